//! Parsing of the calculators' size options: `2`, `2,1`, `1,1,2,2`, `valid|same|full`.

use anyhow::{bail, Result};

/// Parses a comma-separated list of non-negative integers, named `what` in messages.
pub fn parse_list(what: &str, s: &str) -> Result<Vec<usize>> {
    s.split(',')
        .map(|p| {
            p.trim().parse::<usize>().map_err(|_| {
                anyhow::anyhow!("--{what}: '{s}' is not a non-negative integer or a comma-separated list of them")
            })
        })
        .collect()
}

/// `n` or `h,w`, as `[h, w]`; rejects 0 when `positive`.
pub fn parse_pair(what: &str, s: &str, positive: bool) -> Result<[usize; 2]> {
    let v = parse_list(what, s)?;
    let pair = match v.as_slice() {
        [n] => [*n, *n],
        [h, w] => [*h, *w],
        _ => bail!("--{what}: expected one number or two (height,width), got '{s}'"),
    };
    if positive && pair.contains(&0) {
        bail!("--{what} must be at least 1, got '{s}'");
    }
    Ok(pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs() {
        assert_eq!(parse_pair("stride", "2", true).unwrap(), [2, 2]);
        assert_eq!(parse_pair("stride", "2,1", true).unwrap(), [2, 1]);
        assert!(parse_pair("stride", "0", true).unwrap_err().to_string().contains("at least 1"));
        assert!(parse_pair("stride", "x", true).is_err());
        assert!(parse_pair("stride", "1,2,3", true).is_err());
    }
}
