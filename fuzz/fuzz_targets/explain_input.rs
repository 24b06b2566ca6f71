//! The explainer's input handlers: the body of `POST /api/run` (JSON with a sample index or
//! pixels and a shape, or an uploaded PNG/JPEG), parsed by `InputSource::from_request` and run
//! through a small model by `Explainer::run`, as the server does. The first byte picks JSON
//! (even) or an upload (odd).
#![no_main]

use std::sync::OnceLock;

use convlab::explain::{Explainer, InputSource};
use convlab::spec::resolve_model;
use libfuzzer_sys::fuzz_target;

fn explainer() -> &'static Explainer {
    static EX: OnceLock<Explainer> = OnceLock::new();
    EX.get_or_init(|| {
        let m = resolve_model("input(1,8,8) conv(2,3) relu maxpool(2) flatten linear(3)", None, None, None, 0).unwrap();
        Explainer::new(m.module, &m.description, &m.input, Default::default(), None).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let Ok(source) = InputSource::from_request(mode % 2 == 0, body) else { return };
    if let Ok(run) = explainer().run(&source, 4) {
        let probs: Vec<f64> = run["probs"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap_or(f64::NAN)).collect();
        assert_eq!(probs.len(), 3);
        assert!(probs.iter().all(|p| p.is_finite()), "non-finite probabilities from an accepted input");
    }
});
