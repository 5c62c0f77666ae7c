//! Parsing an HTTP/1.1 response head (httparse): status, version and headers whose values
//! share one copy of the head's bytes.

use super::h1::H1Error;
use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};

pub(super) type Head = (u16, u8, HeaderMap);

/// Parsed head fields as offsets into the buffer, so header values can share its bytes.
struct HeadIndex {
    len: usize,
    status: u16,
    version: u8,
    fields: Vec<(HeaderName, std::ops::Range<usize>)>,
}

/// Parses a complete response head at the start of `buf` (taking it off the buffer): its
/// status, version and headers, whose values share one copy of the head.
pub(super) fn take_head(buf: &mut BytesMut) -> Result<Option<Head>, H1Error> {
    let mut small = [httparse::EMPTY_HEADER; 48];
    let index = match index_head(buf, &mut small) {
        Err(H1Error::Malformed("too many headers")) => {
            let mut large = vec![httparse::EMPTY_HEADER; 512];
            index_head(buf, &mut large)?
        }
        other => other?,
    };
    let Some(index) = index else { return Ok(None) };
    // The head gets its own allocation: header values share it, not the read buffer.
    let head = Bytes::copy_from_slice(&buf[..index.len]);
    buf.advance(index.len);
    let mut headers = HeaderMap::with_capacity(index.fields.len());
    for (name, range) in index.fields {
        let value = HeaderValue::from_maybe_shared(head.slice(range))
            .map_err(|_| H1Error::Malformed("bad header value"))?;
        headers.append(name, value);
    }
    Ok(Some((index.status, index.version, headers)))
}

fn index_head<'b>(
    buf: &'b [u8],
    slots: &mut [httparse::Header<'b>],
) -> Result<Option<HeadIndex>, H1Error> {
    let mut resp = httparse::Response::new(slots);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(H1Error::Malformed("too many headers")),
        Err(_) => return Err(H1Error::Malformed("bad response head")),
    };
    let status = resp.code.ok_or(H1Error::Malformed("no status"))?;
    let version = resp.version.unwrap_or(1);
    let base = buf.as_ptr() as usize;
    let mut fields = Vec::with_capacity(resp.headers.len());
    for h in resp.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| H1Error::Malformed("bad header name"))?;
        let start = h.value.as_ptr() as usize - base;
        fields.push((name, start..start + h.value.len()));
    }
    Ok(Some(HeadIndex {
        len,
        status,
        version,
        fields,
    }))
}
