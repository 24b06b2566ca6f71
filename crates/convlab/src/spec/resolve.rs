//! What a command-line `MODEL` argument names: a zoo model, a spec string, or a `.json` /
//! `.toml` spec file; with the input shape and class count each model expects by default.

use super::Spec;
use crate::models::{self, ModelConfig};
use crate::nn::Module;
use crate::{Error, Shape};

/// The default input shape and class count of a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelDefaults {
    /// `[C, H, W]`.
    pub input: [usize; 3],
    pub classes: usize,
}

/// A spec that names no input shape gets this one (MNIST's), with `in_channels` as `C`.
pub const SPEC_DEFAULT_INPUT: [usize; 3] = [1, 28, 28];

/// The defaults of a zoo model, from the zoo's own table ([`models::SPECS`]: 1×28×28 for
/// LeNet-5, 3×32×32 for the CIFAR forms, 3×64×64 for TinyVGG, 3×224×224 for the ImageNet
/// networks); `None` for a name the zoo does not know.
///
/// ```
/// use convlab::spec::default_input;
/// assert_eq!(default_input("lenet5").unwrap().input, [1, 28, 28]);
/// assert_eq!(default_input("resnet18_cifar").unwrap().input, [3, 32, 32]);
/// assert_eq!(default_input("tinyvgg").unwrap().input, [3, 64, 64]);
/// assert_eq!(default_input("vgg16").unwrap().input, [3, 224, 224]);
/// assert_eq!(default_input("vgg16").unwrap().classes, 1000);
/// ```
pub fn default_input(name: &str) -> Option<ModelDefaults> {
    let s = models::spec(name).ok()?;
    Some(ModelDefaults { input: [s.in_channels, s.input_size[0], s.input_size[1]], classes: s.num_classes })
}

/// Where a resolved model came from: what a checkpoint records to rebuild it.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    Zoo {
        name: String,
        config: ModelConfig,
    },
    /// The spec, with its input shape filled in.
    Spec(Spec),
    /// An ONNX file (its weights are the model's).
    Onnx {
        path: std::path::PathBuf,
    },
}

/// A model ready to run, with how to rebuild it.
pub struct ResolvedModel {
    pub module: Box<dyn Module>,
    pub source: ModelSource,
    /// The zoo name, or the canonical spec text (with its `input(...)`).
    pub description: String,
    /// The input shape to use by default, without the batch dimension.
    pub input: Vec<usize>,
}

/// Resolves a `MODEL` argument: a zoo name ([`models::names`]), a path to a `.json`/`.toml`
/// spec file (or any existing file holding a one-line spec), or a spec string. `in_channels`,
/// `classes` and `input` override the defaults ([`default_input`] for zoo models,
/// [`SPEC_DEFAULT_INPUT`] for specs); for a spec, `classes` is checked against its output.
///
/// ```
/// use convlab::spec::resolve_model;
/// use convlab::nn::Module;
/// let m = resolve_model("conv(8,3,padding=1) relu globalavgpool flatten linear(10)", Some(3), None, None, 0).unwrap();
/// assert_eq!(m.input, vec![3, 28, 28]);
/// assert_eq!(m.description, "input(3,28,28) conv(8,3,padding=1) relu globalavgpool flatten linear(10)");
/// assert!(resolve_model("no_such_net", None, None, None, 0).err().unwrap().to_string().contains("unknown model 'no_such_net'"));
/// ```
pub fn resolve_model(
    arg: &str,
    in_channels: Option<usize>,
    classes: Option<usize>,
    input: Option<&[usize]>,
    seed: u64,
) -> Result<ResolvedModel, Error> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Err(Error::Invalid("empty model name".into()));
    }
    if let Some(shape) = input {
        if !(shape.len() == 2 || shape.len() == 3) || shape.contains(&0) {
            return Err(Error::Shape(format!(
                "input shape {} must be [C, H, W] or [C, L] with positive sizes",
                Shape::from(shape)
            )));
        }
    }
    if let (Some(c), Some(shape)) = (in_channels, input) {
        if shape[0] != c {
            return Err(Error::Invalid(format!("in_channels {c} contradicts the input shape {}", Shape::from(shape))));
        }
    }
    let lower = arg.to_ascii_lowercase();
    let zoo = models::names();
    if let Some(name) = zoo.iter().find(|n| n.eq_ignore_ascii_case(arg)) {
        let defaults =
            default_input(name).ok_or_else(|| Error::Invalid(format!("zoo model '{name}' has no defaults")))?;
        let c = in_channels.or(input.map(|s| s[0])).unwrap_or(defaults.input[0]);
        let shape = input.map(|s| s.to_vec()).unwrap_or_else(|| vec![c, defaults.input[1], defaults.input[2]]);
        let config = ModelConfig { in_channels: c, num_classes: classes.unwrap_or(defaults.classes) };
        let module = models::build(name, &config, seed)?;
        return Ok(ResolvedModel {
            module,
            source: ModelSource::Zoo { name: name.to_string(), config },
            description: name.to_string(),
            input: shape,
        });
    }
    let path = std::path::Path::new(arg);
    if lower.ends_with(".onnx") {
        return resolve_onnx(path, in_channels, classes, input);
    }
    let spec = if lower.ends_with(".json") || lower.ends_with(".toml") || path.is_file() {
        Spec::from_file(path)?
    } else {
        match arg.parse::<Spec>() {
            Ok(s) => s,
            Err(_) if arg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') => {
                let available = if zoo.is_empty() { "none yet".to_string() } else { zoo.join(", ") };
                return Err(Error::Invalid(format!(
                    "unknown model '{arg}': not a zoo model (available: {available}), a .json/.toml spec file, nor a spec such as \"conv(6,5) relu maxpool(2) flatten linear(10)\""
                )));
            }
            Err(e) => return Err(e),
        }
    };
    let shape = match (input, &spec.input) {
        (Some(s), _) => s.to_vec(),
        (None, Some(s)) => s.clone(),
        (None, None) => {
            vec![in_channels.unwrap_or(SPEC_DEFAULT_INPUT[0]), SPEC_DEFAULT_INPUT[1], SPEC_DEFAULT_INPUT[2]]
        }
    };
    if let Some(c) = in_channels.filter(|&c| c != shape[0]) {
        return Err(Error::Invalid(format!(
            "in_channels {c} contradicts the spec's input shape {}",
            Shape::from(&shape[..])
        )));
    }
    let net = spec.build(&shape, seed)?;
    let spec = Spec { input: Some(shape.clone()), ..spec };
    if let Some(k) = classes {
        let out = spec.infer_shapes(&shape)?.pop().map(|l| l.output).unwrap_or_default();
        if out != [k] {
            return Err(Error::Shape(format!(
                "the spec's output is {} but {k} classes were asked for",
                Shape::from(&out[..])
            )));
        }
    }
    Ok(ResolvedModel {
        module: Box::new(net),
        description: spec.to_string(),
        source: ModelSource::Spec(spec),
        input: shape,
    })
}

/// The most values one input image of an ONNX model may have.
const MAX_ONNX_INPUT: usize = 1 << 26;

/// An ONNX file as a model: imported for `input` (`[C, H, W]`, else the file's own size), its
/// channels checked against `in_channels` and its class count against `classes`.
fn resolve_onnx(
    path: &std::path::Path,
    in_channels: Option<usize>,
    classes: Option<usize>,
    input: Option<&[usize]>,
) -> Result<ResolvedModel, Error> {
    let module = crate::onnx::load(path, input)?;
    let shape = module.graph().input_shape[1..].to_vec();
    // Commands read images at this size: a file may not declare an image larger than 2^26
    // values (e.g. 3×4096×4096) and make every input that large.
    if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_none_or(|n| n > MAX_ONNX_INPUT) {
        return Err(Error::Shape(format!(
            "{}: the model takes inputs of shape {}, more than {MAX_ONNX_INPUT} values per image",
            path.display(),
            Shape::from(&shape[..])
        )));
    }
    if let Some(c) = in_channels.filter(|&c| shape.first() != Some(&c)) {
        return Err(Error::Invalid(format!(
            "{}: the model takes inputs of shape {} ({} channels), not {c} channels",
            path.display(),
            Shape::from(&shape[..]),
            shape.first().copied().unwrap_or(0)
        )));
    }
    let out = module.output_shape(&module.graph().input_shape)?;
    if let Some(k) = classes.filter(|&k| out.last() != Some(&k)) {
        return Err(Error::Shape(format!(
            "{}: the model's output is {} but {k} classes were asked for",
            path.display(),
            Shape::from(&out[..])
        )));
    }
    Ok(ResolvedModel {
        module: Box::new(module),
        source: ModelSource::Onnx { path: path.to_path_buf() },
        description: path.display().to_string(),
        input: shape,
    })
}
