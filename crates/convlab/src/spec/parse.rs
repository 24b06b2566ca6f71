//! Reading specs: the one-line form (a small hand-written parser) and the JSON form, both
//! turned into [`RawLayer`]s (a name with positional and named argument values) that
//! `layer.rs` checks against each layer's argument list.

use super::{layer, Spec};
use crate::Error;

/// An argument value as written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Float(f64),
    /// A bare or quoted word: `same`, `true`, `reflect`, `none`.
    Word(String),
    /// `(3,5)` or `[3,5]`.
    Tuple(Vec<Value>),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Word(w) => f.write_str(w),
            Value::Tuple(v) => write!(f, "({})", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")),
        }
    }
}

/// One layer as written: its type, its arguments and its text (for error messages).
#[derive(Clone, Debug)]
pub(crate) struct RawLayer {
    pub name: String,
    pub positional: Vec<Value>,
    pub named: Vec<(String, Value)>,
    pub text: String,
}

struct Parser<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn offset(&self) -> usize {
        self.chars.get(self.pos).map(|&(i, _)| i).unwrap_or(self.src.len())
    }

    fn error(&self, what: &str) -> Error {
        let at = self.offset();
        let found = match self.peek() {
            Some(c) => format!("'{c}'"),
            None => "the end".to_string(),
        };
        Error::Invalid(format!("spec: {what} at character {} (found {found}) in `{}`", at + 1, self.src.trim()))
    }

    /// Skips blanks inside parentheses.
    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_whitespace()) {
            self.pos += 1;
        }
    }

    /// Skips what may separate layers: blanks, `,`, `;`, `|`, `->` and `#` comments.
    fn skip_separators(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() || c == ',' || c == ';' || c == '|' => self.pos += 1,
                Some('-') if self.chars.get(self.pos + 1).map(|x| x.1) == Some('>') => self.pos += 2,
                Some('#') => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.pos += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.chars[start..self.pos].iter().map(|x| x.1).collect())
    }

    fn value(&mut self) -> Result<Value, Error> {
        self.skip_spaces();
        match self.peek() {
            Some(open @ ('(' | '[')) => {
                let close = if open == '(' { ')' } else { ']' };
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_spaces();
                    if self.peek() == Some(close) && items.is_empty() {
                        break;
                    }
                    items.push(self.value()?);
                    self.skip_spaces();
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        Some(c) if c == close => break,
                        _ => return Err(self.error(&format!("expected ',' or '{close}'"))),
                    }
                }
                self.pos += 1;
                Ok(Value::Tuple(items))
            }
            Some(q @ ('\'' | '"')) => {
                self.pos += 1;
                let start = self.pos;
                while !matches!(self.peek(), None | Some('\'') | Some('"')) {
                    self.pos += 1;
                }
                if self.peek() != Some(q) {
                    return Err(self.error("unterminated quoted word"));
                }
                let w: String = self.chars[start..self.pos].iter().map(|x| x.1).collect();
                self.pos += 1;
                Ok(Value::Word(w))
            }
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let start = self.pos;
                self.pos += 1;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '.' || c == '_'
                    || ((c == '-' || c == '+') && matches!(self.chars[self.pos - 1].1, 'e' | 'E')))
                {
                    self.pos += 1;
                }
                let s: String = self.chars[start..self.pos].iter().map(|x| x.1).filter(|&c| c != '_').collect();
                if let Ok(i) = s.parse::<i64>() {
                    Ok(Value::Int(i))
                } else if let Ok(x) = s.parse::<f64>() {
                    Ok(Value::Float(x))
                } else {
                    self.pos = start;
                    Err(self.error(&format!("'{s}' is not a number")))
                }
            }
            Some(c) if c.is_ascii_alphabetic() => Ok(Value::Word(self.ident().unwrap_or_default())),
            _ => Err(self.error("expected a value")),
        }
    }

    /// `name` or `name(args)`.
    fn layer(&mut self) -> Result<RawLayer, Error> {
        let start = self.offset();
        let name = self.ident().ok_or_else(|| self.error("expected a layer name"))?;
        let (mut positional, mut named) = (Vec::new(), Vec::new());
        self.skip_spaces_inline();
        if self.peek() == Some('(') {
            self.pos += 1;
            loop {
                self.skip_spaces();
                if self.peek() == Some(')') && positional.is_empty() && named.is_empty() {
                    break;
                }
                // `key=value` or a value.
                let save = self.pos;
                let key = self.ident();
                self.skip_spaces();
                if key.is_some() && self.peek() == Some('=') {
                    self.pos += 1;
                    let v = self.value()?;
                    named.push((key.unwrap_or_default().to_ascii_lowercase(), v));
                } else {
                    self.pos = save;
                    if !named.is_empty() {
                        return Err(self.error("positional argument after a named one"));
                    }
                    positional.push(self.value()?);
                }
                self.skip_spaces();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => break,
                    _ => return Err(self.error("expected ',' or ')'")),
                }
            }
            self.pos += 1;
        }
        let text = self.src[start..self.offset()].trim().to_string();
        Ok(RawLayer { name: name.to_ascii_lowercase(), positional, named, text })
    }

    /// Blanks between a layer name and its `(` (but not a new line, which ends the layer).
    fn skip_spaces_inline(&mut self) {
        let save = self.pos;
        while matches!(self.peek(), Some(' ') | Some('\t')) {
            self.pos += 1;
        }
        if self.peek() != Some('(') {
            self.pos = save;
        }
    }
}

/// Splits the one-line form into raw layers.
pub(crate) fn parse_raw(src: &str) -> Result<Vec<RawLayer>, Error> {
    let mut p = Parser { src, chars: src.char_indices().collect(), pos: 0 };
    let mut out = Vec::new();
    loop {
        p.skip_separators();
        if p.peek().is_none() {
            return Ok(out);
        }
        out.push(p.layer()?);
    }
}

/// Parses the one-line form.
pub(crate) fn parse_spec(src: &str) -> Result<Spec, Error> {
    let raw = parse_raw(src)?;
    from_raw(raw, None)
}

/// Checks raw layers and collects them into a spec; a leading `input(...)` sets the input.
fn from_raw(raw: Vec<RawLayer>, mut input: Option<Vec<usize>>) -> Result<Spec, Error> {
    let mut layers = Vec::new();
    for r in raw {
        if r.name == "input" {
            if !layers.is_empty() || input.is_some() {
                return Err(Error::Invalid(format!("spec: `{}` must come first, and once", r.text)));
            }
            input = Some(input_shape(&r.positional, &r.text)?);
            continue;
        }
        let i = layers.len();
        layers.push(layer::from_raw(&r).map_err(|e| Error::Invalid(format!("layer {i} `{}`: {}", r.text, strip(&e))))?);
    }
    if layers.is_empty() {
        return Err(Error::Invalid("spec: no layers".into()));
    }
    Ok(Spec { layers, input })
}

/// The message of an error without its kind prefix.
pub(crate) fn strip(e: &Error) -> String {
    match e {
        Error::Shape(m) | Error::Invalid(m) => m.clone(),
        other => other.to_string(),
    }
}

fn input_shape(values: &[Value], text: &str) -> Result<Vec<usize>, Error> {
    let flat: Vec<Value> = match values {
        [Value::Tuple(v)] => v.clone(),
        v => v.to_vec(),
    };
    let dims: Option<Vec<usize>> = flat
        .iter()
        .map(|v| if let Value::Int(i) = v { usize::try_from(*i).ok().filter(|&d| d > 0) } else { None })
        .collect();
    match dims {
        Some(d) if d.len() == 2 || d.len() == 3 => Ok(d),
        _ => Err(Error::Invalid(format!(
            "spec: `{text}`: the input shape must be 2 or 3 positive sizes ([C, H, W] or [C, L])"
        ))),
    }
}

fn json_value(v: &serde_json::Value, what: &str) -> Result<Value, Error> {
    Ok(match v {
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Word(s.clone()),
        serde_json::Value::Bool(b) => Value::Word(b.to_string()),
        serde_json::Value::Null => Value::Word("none".into()),
        serde_json::Value::Array(a) => Value::Tuple(a.iter().map(|x| json_value(x, what)).collect::<Result<_, _>>()?),
        serde_json::Value::Object(_) => {
            return Err(Error::Invalid(format!("{what}: an object is not an argument value")))
        }
    })
}

/// The JSON (or TOML, converted) form.
pub(crate) fn from_json_value(v: &serde_json::Value) -> Result<Spec, Error> {
    use serde_json::Value as J;
    let (list, input) = match v {
        J::Array(list) => (list.clone(), None),
        J::Object(map) => {
            if let Some(k) = map.keys().find(|k| !matches!(k.as_str(), "layers" | "input" | "spec")) {
                return Err(Error::Invalid(format!(
                    "spec: unknown key \"{k}\" (expected \"layers\" or \"spec\", and \"input\")"
                )));
            }
            let input = match map.get("input") {
                None | Some(J::Null) => None,
                Some(x) => {
                    let Value::Tuple(items) = json_value(x, "input")? else {
                        return Err(Error::Invalid("spec: \"input\" must be a list like [1, 28, 28]".into()));
                    };
                    Some(input_shape(&items, &x.to_string())?)
                }
            };
            match (map.get("layers"), map.get("spec")) {
                (Some(J::Array(list)), None) => (list.clone(), input),
                (None, Some(J::String(s))) => {
                    let spec = parse_spec(s)?;
                    if spec.input.is_some() && input.is_some() {
                        return Err(Error::Invalid("spec: the input shape is given twice".into()));
                    }
                    return Ok(Spec { input: input.or(spec.input), ..spec });
                }
                _ => return Err(Error::Invalid("spec: expected \"layers\": [...] or \"spec\": \"...\"".into())),
            }
        }
        _ => return Err(Error::Invalid("spec: expected a list of layers or an object with \"layers\"".into())),
    };
    let mut raw = Vec::new();
    for (i, item) in list.iter().enumerate() {
        match item {
            J::String(s) => {
                let mut layers = parse_raw(s)?;
                if layers.len() != 1 {
                    return Err(Error::Invalid(format!("spec: item {i} \"{s}\" must be one layer")));
                }
                raw.push(layers.remove(0));
            }
            J::Object(map) => {
                let text = item.to_string();
                let name = match map.get("type") {
                    Some(J::String(t)) => t.to_ascii_lowercase(),
                    _ => return Err(Error::Invalid(format!("spec: item {i} {text} needs a \"type\" string"))),
                };
                let mut named = Vec::new();
                for (k, x) in map.iter().filter(|(k, _)| k.as_str() != "type") {
                    named.push((k.to_ascii_lowercase(), json_value(x, &text)?));
                }
                raw.push(RawLayer { name, positional: Vec::new(), named, text });
            }
            other => return Err(Error::Invalid(format!("spec: item {i} {other} must be an object or a layer string"))),
        }
    }
    from_raw(raw, input)
}
