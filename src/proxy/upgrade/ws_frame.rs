//! WebSocket framing, as little as a tunnel needs: where frames start and end in one direction
//! of a byte stream (RFC 6455 §5.2: a 2 to 14 byte header, then the payload length it
//! gives), so that the gateway writes its own Close frame only between two frames; and that
//! Close frame, unmasked towards the client and masked towards the server (§5.3).

/// Follows frame boundaries through the bytes of one direction.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    /// Header bytes of the frame being started (`have` of at most 14).
    head: [u8; 14],
    have: u8,
    /// Payload bytes of the current frame still to pass.
    payload: u64,
    /// A Close frame has started in this direction: nothing more may follow it.
    closed: bool,
}

impl Frames {
    /// Takes the next bytes of the direction.
    pub(crate) fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.payload > 0 {
                let n = self.payload.min(data.len() as u64);
                self.payload -= n;
                data = &data[n as usize..];
                continue;
            }
            self.head[self.have as usize] = data[0];
            self.have += 1;
            data = &data[1..];
            if let Some(len) = self.header_done() {
                if self.head[0] & 0x0F == 0x8 {
                    self.closed = true;
                }
                self.have = 0;
                self.payload = len;
            }
        }
    }

    /// The payload length once the header is complete.
    fn header_done(&self) -> Option<u64> {
        if self.have < 2 {
            return None;
        }
        let len7 = self.head[1] & 0x7F;
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.head[1] & 0x80 != 0 { 4 } else { 0 };
        if (self.have as usize) < 2 + ext + mask {
            return None;
        }
        Some(match ext {
            0 => u64::from(len7),
            2 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            _ => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.head[2..10]);
                u64::from_be_bytes(b)
            }
        })
    }

    /// Between two frames: a frame of the gateway's own may be written here.
    pub(crate) fn at_boundary(&self) -> bool {
        self.have == 0 && self.payload == 0
    }

    /// A Close frame has gone this way (the closing handshake has begun).
    pub(crate) fn closed(&self) -> bool {
        self.closed
    }
}

/// Close status 1001 "going away" (RFC 6455 §7.4.1).
pub(crate) const GOING_AWAY: u16 = 1001;

/// A Close frame with `code` and `reason` (at most 123 bytes, cut otherwise); masked with
/// `mask` when it goes to the server.
pub(crate) fn close_frame(code: u16, reason: &str, mask: Option<[u8; 4]>) -> Vec<u8> {
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    let mut out = Vec::with_capacity(6 + payload.len());
    out.push(0x88); // FIN, opcode 8 (Close)
    match mask {
        None => out.push(payload.len() as u8),
        Some(m) => {
            out.push(0x80 | payload.len() as u8);
            out.extend_from_slice(&m);
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= m[i % 4];
            }
        }
    }
    out.extend_from_slice(&payload);
    out
}

/// A masking key (§5.3: unpredictable).
pub(crate) fn mask_key() -> [u8; 4] {
    let mut m = [0u8; 4];
    random(&mut m);
    m
}

/// Fills `out` from the system's secure random source (`fastrand` should it fail).
pub(crate) fn random(out: &mut [u8]) {
    use ring::rand::SecureRandom;
    if ring::rand::SystemRandom::new().fill(out).is_err() {
        out.fill_with(|| fastrand::u8(..));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: u8, len: usize, masked: bool) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        let m = if masked { 0x80 } else { 0 };
        match len {
            0..=125 => f.push(m | len as u8),
            126..=65535 => {
                f.push(m | 126);
                f.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                f.push(m | 127);
                f.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        if masked {
            f.extend_from_slice(&[1, 2, 3, 4]);
        }
        f.extend(std::iter::repeat_n(7u8, len));
        f
    }

    #[test]
    fn boundaries_are_found_for_every_length_form_and_any_split() {
        for (len, masked) in [
            (0, false),
            (5, true),
            (125, false),
            (126, true),
            (70_000, false),
        ] {
            let mut bytes = frame(1, len, masked);
            bytes.extend(frame(2, 3, masked));
            let first = frame(1, len, masked).len();
            // Byte by byte: a boundary exactly after each frame, never inside one.
            let mut f = Frames::default();
            for (i, b) in bytes.iter().enumerate() {
                f.feed(std::slice::from_ref(b));
                let end = i + 1 == first || i + 1 == bytes.len();
                assert_eq!(f.at_boundary(), end, "len {len} masked {masked} at {i}");
            }
            // In one piece and in two uneven pieces.
            let mut f = Frames::default();
            f.feed(&bytes);
            assert!(f.at_boundary());
            let mut f = Frames::default();
            f.feed(&bytes[..first + 1]);
            assert!(!f.at_boundary());
            f.feed(&bytes[first + 1..]);
            assert!(f.at_boundary());
            assert!(!f.closed());
        }
    }

    #[test]
    fn a_close_frame_is_noticed() {
        let mut f = Frames::default();
        f.feed(&frame(1, 10, true));
        assert!(!f.closed());
        f.feed(&close_frame(1000, "bye", Some([9, 8, 7, 6])));
        assert!(f.closed() && f.at_boundary());
    }

    #[test]
    fn close_frames_are_unmasked_to_clients_and_masked_to_servers() {
        assert_eq!(close_frame(1001, "", None), [0x88, 2, 0x03, 0xE9]);
        let m = [0xA1, 0xB2, 0xC3, 0xD4];
        let f = close_frame(1001, "ok", Some(m));
        assert_eq!(&f[..6], &[0x88, 0x84, 0xA1, 0xB2, 0xC3, 0xD4]);
        let unmasked: Vec<u8> = f[6..]
            .iter()
            .zip(m.iter().cycle())
            .map(|(b, k)| b ^ k)
            .collect();
        assert_eq!(unmasked, [0x03, 0xE9, b'o', b'k']);
        let long = close_frame(1001, &"x".repeat(300), None);
        assert_eq!(
            long[1], 125,
            "payload cut to the 125 bytes a control frame may have"
        );
    }
}
