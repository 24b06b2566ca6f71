//! One neuron's arithmetic, from the engine's own tensors: a convolution's input channels
//! (padded as the layer pads them), kernels, per-channel results, bias and output; an
//! element-wise or pooling layer's input and output map (with an activation's settings and
//! curve, a pooling layer's window settings and the input positions of every window); a
//! dense unit's inputs and weights.

use std::any::Any;

use serde_json::{json, Value};

use super::{module_at, params, Explainer};
use crate::nn::{Conv2d, Linear};
use crate::ops::conv::conv2d_output_shape;
use crate::{no_grad, Conv2dParams, Error, Padding2d, Tensor};

fn map_json(t: &Tensor) -> Value {
    let d = t.dims();
    let r = d.len();
    json!({ "h": d[r - 2], "w": d[r - 1], "data": &*t.storage() })
}

impl Explainer {
    /// The detail of neuron `channel` (a map of a 4-D layer, a unit of a dense layer) of
    /// `layer` for input `input`. For convolutions, input channels `cin_offset..+cin_count`
    /// of the channel's group are included (all of them count in `sum_check`).
    pub fn detail(
        &self,
        input: &str,
        layer: &str,
        channel: usize,
        cin_offset: usize,
        cin_count: usize,
    ) -> Result<Value, Error> {
        let (i, info) = self.layer(layer)?;
        let p = self.lookup(input)?;
        let (_, rec) = self.record(&p.x);
        let r = rec.get(i).ok_or_else(|| Error::Invalid(format!("layer '{layer}' did not run on this input")))?;
        let module = module_at(&*self.model, &r.path)
            .ok_or_else(|| Error::Invalid(format!("layer '{layer}' is not a listed module")))?;
        let out_dims = r.output.dims();
        if out_dims.len() < 2 || channel >= out_dims[1] {
            return Err(Error::Invalid(format!(
                "layer '{layer}' has {} channels, not {}",
                out_dims.get(1).copied().unwrap_or(0),
                channel + 1
            )));
        }
        let any: &dyn Any = module;
        let base = json!({ "layer": layer, "kind": info.kind, "describe": info.describe, "channel": channel });
        if let Some(conv) = any.downcast_ref::<Conv2d>() {
            return no_grad(|| {
                conv_detail(conv, &r.input, &r.output, channel, cin_offset, cin_count.clamp(1, 64), base)
            });
        }
        if let Some(lin) = any.downcast_ref::<Linear>() {
            let x = r.input.storage();
            let w = lin.weight.storage();
            let k = lin.in_features;
            let b = lin.bias.as_ref().map(|b| b.storage()[channel]);
            let mut v = base;
            v["inputs"] = json!(&x[..k]);
            v["weights"] = json!(&w[channel * k..(channel + 1) * k]);
            v["bias"] = json!(b);
            v["output"] = json!(r.output.storage()[channel]);
            // Where the inputs came from: the shape before the nearest flatten.
            let flat_from = rec[..i].iter().rev().find(|e| e.kind == "Flatten").map(|e| e.input_shape[1..].to_vec());
            v["flatten_from"] = json!(flat_from);
            return Ok(v);
        }
        // Element-wise, normalization and pooling layers: the same channel in and out.
        let mut v = base;
        let ind = r.input.dims();
        if ind.len() == 4 && out_dims.len() == 4 && ind[1] == out_dims[1] {
            let cin = r.input.narrow(1, channel, 1);
            let cout = r.output.narrow(1, channel, 1);
            v["input"] = map_json(&cin);
            v["output"] = map_json(&cout);
            v["geometry"] = json!(info.geometry);
            if let Some(a) = params::activation_of(module) {
                let r = cin.storage().iter().fold(0.0f32, |m, v| m.max(v.abs()));
                v["activation"] = params::activation_json(&a);
                v["curve"] = params::activation_curve(&a, r.max(1e-6));
            }
            let planes = params::plane(ind).zip(params::plane(out_dims));
            if let Some(win) = planes.and_then(|(i, o)| params::pool_of(module, i, o)) {
                v["pool"] = win.settings();
                v["windows"] = json!(win.taps());
                v["divisors"] = json!(win.divisors());
                v["argmax"] = json!(win.argmax(&cin));
                v["window_check"] = json!(win.check(&cin.storage(), &cout.storage()));
            }
        } else if ind.len() == 2 && out_dims.len() == 2 {
            v["inputs"] = json!(&*r.input.storage());
            v["outputs"] = json!(&*r.output.storage());
        } else {
            v["input_shape"] = json!(&ind[1..]);
            v["output_shape"] = json!(&out_dims[1..]);
        }
        Ok(v)
    }

    /// The first convolution's kernels, `[O, C, kH, kW]`, for drawing as images.
    pub fn filters(&self) -> Value {
        for l in self.layers() {
            if let Some(m) = module_at(&*self.model, &l.path) {
                let any: &dyn Any = m;
                if let Some(conv) = any.downcast_ref::<Conv2d>() {
                    return json!({ "layer": l.id, "shape": conv.weight.dims(), "data": &*conv.weight.storage() });
                }
            }
        }
        Value::Null
    }
}

fn conv_detail(
    conv: &Conv2d,
    x: &Tensor,
    out: &Tensor,
    o: usize,
    cin_offset: usize,
    cin_count: usize,
    mut v: Value,
) -> Result<Value, Error> {
    let cfg = &conv.config;
    let p: &Conv2dParams = &cfg.conv;
    let groups = p.groups.max(1);
    let cin_g = cfg.in_channels / groups;
    let first = (o / (cfg.out_channels / groups)) * cin_g;
    let pad = conv2d_output_shape(x.dims(), conv.weight.dims(), p)?.pad();
    let wrow = conv.weight.narrow(0, o, 1); // [1, cin_g, kH, kW]
    let single = Conv2dParams { groups: 1, ..*p };
    let mut inputs = Vec::new();
    let mut sum: Option<Tensor> = None;
    for c in 0..cin_g {
        let xc = x.narrow(1, first + c, 1);
        let kc = wrow.narrow(1, c, 1);
        let part = xc.try_conv2d(&kc, None, &single)?;
        sum = Some(match sum {
            None => part.clone(),
            Some(s) => &s + &part,
        });
        if c >= cin_offset && c < cin_offset + cin_count {
            let padded = xc.pad2d(pad[0], pad[1], pad[2], pad[3], p.padding_mode, 0.0);
            inputs.push(json!({
                "channel": first + c,
                "input": map_json(&xc),
                "padded": map_json(&padded),
                "kernel": &*kc.storage(),
                "intermediate": map_json(&part),
            }));
        }
    }
    let bias = conv.bias.as_ref().map(|b| b.storage()[o]);
    let output = out.narrow(1, o, 1);
    let check = sum.map(|s| {
        let s = s.storage();
        let y = output.storage();
        s.iter().zip(y.iter()).map(|(a, b)| (a + bias.unwrap_or(0.0) - b).abs()).fold(0.0f32, f32::max)
    });
    v["kernel_size"] = json!(cfg.kernel_size);
    v["stride"] = json!(p.stride);
    v["dilation"] = json!(p.dilation);
    v["padding"] = json!(pad);
    v["padding_mode"] = json!(p.padding_mode.name());
    v["padding_preset"] = json!(match p.padding {
        Padding2d::Valid => "valid",
        Padding2d::Same => "same",
        Padding2d::Full => "full",
        Padding2d::Explicit { .. } => "explicit",
    });
    v["groups"] = json!(groups);
    v["in_channels"] = json!(cin_g);
    v["cin_offset"] = json!(cin_offset.min(cin_g));
    v["inputs"] = Value::Array(inputs);
    v["bias"] = json!(bias);
    v["output"] = map_json(&output);
    v["sum_check"] = json!(check);
    Ok(v)
}
