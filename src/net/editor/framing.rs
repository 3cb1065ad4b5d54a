//! LSP framing: a `Content-Length: N` header (other headers ignored),
//! an empty line, then N bytes of JSON.

/// Longest header accepted.
pub const MAX_HEADER: usize = 8 << 10;
/// Largest message accepted (a whole file of the largest size rumor binds,
/// escaped, fits).
pub const MAX_BODY: usize = 200 << 20;

/// The next whole message in `buf`, taken out of it; `Ok(None)` while it
/// is incomplete; an error when the stream cannot be a framed one (the
/// connection cannot find the next frame after that).
pub fn take_frame(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEADER {
            return Err("no end of header in the first 8 KiB".into());
        }
        return Ok(None);
    };
    if end > MAX_HEADER {
        return Err("header longer than 8 KiB".into());
    }
    let header = std::str::from_utf8(&buf[..end]).map_err(|_| "header is not UTF-8".to_string())?;
    let mut length = None;
    for line in header.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .trim()
                .parse()
                .map_err(|_| format!("bad Content-Length {:?}", value.trim()))?;
            length = Some(n);
        }
    }
    let length = length.ok_or_else(|| "no Content-Length header".to_string())?;
    if length > MAX_BODY {
        return Err(format!("message of {length} bytes is too big"));
    }
    let start = end + 4;
    if buf.len() < start + length {
        return Ok(None);
    }
    let body = buf[start..start + length].to_vec();
    buf.drain(..start + length);
    Ok(Some(body))
}

/// `body` framed.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_taken_whole_and_in_order() {
        let mut buf = frame(b"{}");
        buf.extend(b"Content-Type: x\r\ncontent-length: 3\r\n\r\n[1]");
        buf.extend(b"Content-Length: 6\r\n\r\n{");
        assert_eq!(take_frame(&mut buf), Ok(Some(b"{}".to_vec())));
        assert_eq!(take_frame(&mut buf), Ok(Some(b"[1]".to_vec())));
        assert_eq!(take_frame(&mut buf), Ok(None));
        buf.extend(b"\"\":1");
        assert_eq!(take_frame(&mut buf), Ok(None));
        buf.extend(b"}");
        assert_eq!(take_frame(&mut buf), Ok(Some(b"{\"\":1}".to_vec())));
        assert!(buf.is_empty());
    }

    #[test]
    fn garbage_is_an_error_not_a_wait() {
        for bad in [
            &b"hello\r\n\r\n"[..],
            b"Content-Length: -1\r\n\r\n",
            b"Content-Length: 99999999999999999999999\r\n\r\n",
            b"Content-Type: a\r\n\r\n",
            b"\xff\xfe: 1\r\n\r\n",
        ] {
            assert!(take_frame(&mut bad.to_vec()).is_err(), "{bad:?}");
        }
        assert!(take_frame(&mut vec![b'x'; MAX_HEADER + 1]).is_err());
    }
}
