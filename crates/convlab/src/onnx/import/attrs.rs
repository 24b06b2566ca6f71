//! Reading a node's attributes, with errors that name the node, the attribute and the type.

use crate::onnx::proto::{attribute_proto::AttributeType, AttributeProto, NodeProto, TensorProto};
use crate::Error;

/// The attributes of one node.
pub(super) struct Attrs<'a> {
    node: &'a NodeProto,
}

impl<'a> Attrs<'a> {
    pub fn of(node: &'a NodeProto) -> Attrs<'a> {
        Attrs { node }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    fn wrong(&self, a: &AttributeProto, want: &str) -> Error {
        let got = AttributeType::try_from(a.r#type).map(|t| t.as_str_name()).unwrap_or("an unknown type");
        Error::Invalid(format!("attribute '{}' should be {want}, got {got}", a.name))
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// An `INT` attribute, or `default` when it is absent.
    pub fn int(&self, name: &str, default: i64) -> Result<i64, Error> {
        match self.get(name) {
            None => Ok(default),
            Some(a) => a.i.ok_or_else(|| self.wrong(a, "an INT")),
        }
    }

    /// A `FLOAT` attribute, or `default` when it is absent.
    pub fn float(&self, name: &str, default: f32) -> Result<f32, Error> {
        match self.get(name) {
            None => Ok(default),
            Some(a) => a.f.ok_or_else(|| self.wrong(a, "a FLOAT")),
        }
    }

    /// An `INTS` attribute, `None` when it is absent.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if a.r#type == AttributeType::Ints as i32 || !a.ints.is_empty() => Ok(Some(a.ints.clone())),
            Some(a) => Err(self.wrong(a, "INTS")),
        }
    }

    /// A `FLOATS` attribute, `None` when it is absent.
    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if a.r#type == AttributeType::Floats as i32 || !a.floats.is_empty() => Ok(Some(a.floats.clone())),
            Some(a) => Err(self.wrong(a, "FLOATS")),
        }
    }

    /// A `STRING` attribute, or `default` when it is absent.
    pub fn string(&self, name: &str, default: &str) -> Result<String, Error> {
        match self.get(name) {
            None => Ok(default.to_string()),
            Some(a) => {
                let s = a.s.as_ref().ok_or_else(|| self.wrong(a, "a STRING"))?;
                String::from_utf8(s.clone()).map_err(|_| Error::Invalid(format!("attribute '{name}' is not UTF-8")))
            }
        }
    }

    /// A `TENSOR` attribute, `None` when it is absent.
    pub fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => a.t.as_deref().map(Some).ok_or_else(|| self.wrong(a, "a TENSOR")),
        }
    }

    /// Every attribute name, for messages about ones that are not understood.
    pub fn names(&self) -> Vec<&'a str> {
        self.node.attribute.iter().map(|a| a.name.as_str()).collect()
    }
}

/// Converts a list of non-negative ONNX integers to sizes, naming the attribute.
pub(super) fn sizes(v: &[i64], what: &str) -> Result<Vec<usize>, Error> {
    v.iter()
        .map(|&x| usize::try_from(x).map_err(|_| Error::Invalid(format!("{what} must not be negative, got {v:?}"))))
        .collect()
}
