//! Report bodies gzipped by the worker (summaries of base64 histograms and repeated JSON
//! names shrink several times), and opened by the coordinator only up to a limit: a small
//! body that inflates without end (a zip bomb) is refused, not expanded.

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::{Read, Write};

/// gzip's first two bytes; a JSON body never starts with them.
const MAGIC: [u8; 2] = [0x1f, 0x8b];

pub fn compress(body: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(body)
        .and_then(|()| e.finish())
        .expect("gzip into a Vec cannot fail")
}

/// `body` inflated when gzipped (at most `limit` bytes), else as it is.
pub fn open(body: Vec<u8>, limit: usize) -> Result<Vec<u8>, String> {
    if !body.starts_with(&MAGIC) {
        return Ok(body);
    }
    let mut out = Vec::new();
    GzDecoder::new(&body[..])
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("a gzip body that does not inflate: {e}"))?;
    if out.len() > limit {
        return Err(format!("a gzip body larger than {limit} bytes inflated"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_round_trips_and_a_bomb_stops_at_the_limit() {
        let json = br#"{"worker_id":3,"summary":{}}"#.repeat(100);
        let small = compress(&json);
        assert!(small.len() * 10 < json.len());
        assert_eq!(open(small, 1 << 20).unwrap(), json);
        assert_eq!(
            open(json.clone(), 10).unwrap(),
            json,
            "plain JSON passes as is"
        );
        // 64 MiB of zeros in well under 1 MiB: refused past a 1 MiB limit, not inflated whole.
        let bomb = compress(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        assert!(open(bomb, 1 << 20).unwrap_err().contains("larger than"));
        assert!(open(vec![0x1f, 0x8b, 1, 2, 3], 1 << 20).is_err());
    }
}
