//! Decoding an uploaded PNG or JPEG for the explainer (the `image` feature), checked before
//! the decoder runs: byte size, format, the dimensions its header declares.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{ImageFormat, ImageReader, Limits};

use super::input::{MAX_IMAGE_BYTES, MAX_IMAGE_SIDE};
use crate::Error;

fn check_side(iw: u32, ih: u32) -> Result<(), Error> {
    if iw == 0 || ih == 0 || iw > MAX_IMAGE_SIDE || ih > MAX_IMAGE_SIDE {
        return Err(Error::Invalid(format!(
            "image of {iw}×{ih} pixels: each side must be between 1 and {MAX_IMAGE_SIDE}"
        )));
    }
    Ok(())
}

/// Width and height as a PNG's IHDR chunk or a JPEG's first SOF segment declares them
/// (None when the bytes do not start like either).
fn header_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| Some(u16::from_be_bytes(b.get(i..i + 2)?.try_into().ok()?) as u32);
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return (b.get(12..16)? == b"IHDR").then_some((be32(16)?, be32(20)?));
    }
    if !b.starts_with(&[0xff, 0xd8]) {
        return None;
    }
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xff {
            return None;
        }
        let marker = b[i + 1];
        match marker {
            0xff => i += 1, // fill byte
            0x01 | 0xd0..=0xd7 => i += 2,
            0xd9 | 0xda => return None, // end of image or start of scan before any frame header
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => return Some((be16(i + 7)?, be16(i + 5)?)),
            _ => i += 2 + be16(i + 2)? as usize,
        }
    }
    None
}

/// Decodes a PNG or JPEG into `C×H×W` values in `[0, 1]` at `[c, h, w]`: RGB or gray as the
/// model wants, the shorter side scaled to fit, then centre-cropped (as CNN Explainer does).
/// Errors (never panics) for anything that is not such an image, an image larger than
/// [`MAX_IMAGE_SIDE`] per side by its header, or more than [`MAX_IMAGE_BYTES`].
///
/// ```
/// use convlab::explain::decode_image;
/// assert!(decode_image(b"hello", [1, 28, 28]).unwrap_err().to_string().contains("not a PNG or JPEG"));
/// ```
pub fn decode_image(bytes: &[u8], [c, h, w]: [usize; 3]) -> Result<Vec<f32>, Error> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(Error::Invalid(format!(
            "image of {} bytes is over the limit of {} bytes",
            bytes.len(),
            MAX_IMAGE_BYTES
        )));
    }
    if c != 1 && c != 3 {
        return Err(Error::Invalid(format!(
            "images can be given to models with 1 or 3 input channels, this one has {c}"
        )));
    }
    // The size the file declares, read from its header by hand: a huge declared size is
    // refused before the decoder sees the file (or its missing data) at all.
    if let Some((iw, ih)) = header_dimensions(bytes) {
        check_side(iw, ih)?;
    }
    let reader = || -> Result<ImageReader<Cursor<&[u8]>>, Error> {
        let r = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| Error::Invalid(format!("cannot read the image: {e}")))?;
        match r.format() {
            Some(ImageFormat::Png) | Some(ImageFormat::Jpeg) => Ok(r),
            _ => Err(Error::Invalid("not a PNG or JPEG image".into())),
        }
    };
    let (iw, ih) = reader()?.into_dimensions().map_err(|e| Error::Invalid(format!("not a valid image: {e}")))?;
    check_side(iw, ih)?;
    let mut r = reader()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(256 << 20);
    r.limits(limits);
    let img = r.decode().map_err(|e| Error::Invalid(format!("not a valid image: {e}")))?;
    // Scale the shorter side to cover the target, then crop the centre.
    let scale = (h as f64 / ih as f64).max(w as f64 / iw as f64);
    let (sw, sh) =
        (((iw as f64 * scale).round() as u32).max(w as u32), ((ih as f64 * scale).round() as u32).max(h as u32));
    let img = img.resize_exact(sw, sh, FilterType::Triangle);
    let (x0, y0) = ((sw - w as u32) / 2, (sh - h as u32) / 2);
    let img = img.crop_imm(x0, y0, w as u32, h as u32);
    let mut out = vec![0.0f32; c * h * w];
    if c == 1 {
        let g = img.to_luma8();
        for (i, p) in g.pixels().enumerate() {
            out[i] = p.0[0] as f32 / 255.0;
        }
    } else {
        let rgb = img.to_rgb8();
        for (i, p) in rgb.pixels().enumerate() {
            for ch in 0..3 {
                out[ch * h * w + i] = p.0[ch] as f32 / 255.0;
            }
        }
    }
    Ok(out)
}
