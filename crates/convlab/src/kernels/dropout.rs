//! Dropout's mask application. `mask` holds one multiplier (0 or `1/(1 − p)`) per block of
//! `block` consecutive elements: `block = 1` is element-wise dropout, `block = H·W` zeroes
//! whole channels. The mask itself is drawn by the op (seeded), not here.

/// `y[i] = x[i] · mask[i / block]`. `y`, `x`: `[numel]`; `mask`: `[numel / block]`.
pub fn dropout_forward(block: usize, x: &[f32], mask: &[f32], y: &mut [f32]) {
    for (i, (o, &v)) in y.iter_mut().zip(x).enumerate() {
        *o = v * mask[i / block];
    }
}

/// `dx[i] = g[i] · mask[i / block]`. `dx`, `g`: `[numel]`; `mask`: `[numel / block]`.
pub fn dropout_backward(block: usize, g: &[f32], mask: &[f32], dx: &mut [f32]) {
    dropout_forward(block, g, mask, dx);
}
