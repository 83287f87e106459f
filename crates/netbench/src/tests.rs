//! The protocol's tests: known answers, refusals, and property tests of
//! round trips, splits and arbitrary bytes.

use super::*;
use proptest::prelude::*;

fn request(n: usize, seq: u64, priority: u8) -> Request {
    Request {
        seq,
        priority,
        matrix: CellSource::new(seq).matrix(n).unwrap(),
    }
}

#[test]
fn square_of_a_known_matrix() {
    // [[1, 2], [3, 4]]² = [[7, 10], [15, 22]]
    let m = Matrix::from_cells(2, &[1, 2, 3, 4]).unwrap();
    let r = Request {
        seq: 9,
        priority: 3,
        matrix: m,
    };
    let mut out = [0u8; MAX_REPLY_LEN];
    let len = encode_reply(&r, &mut out).unwrap();
    assert_eq!(len, HEADER_LEN + 16);
    let Some((Frame::Reply(reply), used)) = decode(&out[..len]).unwrap() else {
        panic!("not a reply")
    };
    assert_eq!(used, len);
    assert_eq!(
        [
            reply.get(0, 0),
            reply.get(0, 1),
            reply.get(1, 0),
            reply.get(1, 1)
        ],
        [7, 10, 15, 22]
    );
    assert!(reply.answers(&r));
}

#[test]
fn extreme_cells_do_not_overflow() {
    let m = Matrix::from_fn(MAX_N, |_, _| i8::MIN).unwrap();
    assert_eq!(m.square_cell(0, 0), MAX_N as i32 * 128 * 128);
}

#[test]
fn a_wrong_cell_is_not_an_answer() {
    let r = request(15, 4, 1);
    let mut out = [0u8; MAX_REPLY_LEN];
    let len = encode_reply(&r, &mut out).unwrap();
    out[HEADER_LEN + 4 * 17] ^= 1;
    let Some((Frame::Reply(reply), _)) = decode(&out[..len]).unwrap() else {
        panic!("not a reply")
    };
    assert!(!reply.answers(&r));
    let other = request(15, 5, 1);
    let len = encode_reply(&other, &mut out).unwrap();
    let Some((Frame::Reply(reply), _)) = decode(&out[..len]).unwrap() else {
        panic!("not a reply")
    };
    assert!(!reply.answers(&r), "another sequence number");
}

#[test]
fn garbage_is_refused_at_its_first_byte() {
    assert_eq!(decode(b"G").unwrap_err(), ProtocolError::BadMagic);
    assert_eq!(decode(b"NBX").unwrap_err(), ProtocolError::BadVersion(b'X'));
    assert_eq!(
        decode(b"NB\x01\x01\x00").unwrap_err(),
        ProtocolError::BadSize(0)
    );
    assert_eq!(
        decode(b"NB\x01\x01\x21").unwrap_err(),
        ProtocolError::BadSize(33)
    );
    assert_eq!(
        decode(b"NB\x01\x01\x02\x40").unwrap_err(),
        ProtocolError::BadPriority(64)
    );
    assert_eq!(
        decode(b"NB\x01\x07").unwrap_err(),
        ProtocolError::BadKind(7)
    );
    assert_eq!(
        decode(b"NB\x01\x03\x00\x00\x00").unwrap_err(),
        ProtocolError::BadCode(0)
    );
    assert_eq!(decode(b"NB\x01").unwrap(), None);
}

#[test]
fn error_frames_round_trip() {
    let mut out = [0u8; ERROR_LEN];
    encode_error(7, ProtocolError::BadMagic, &mut out).unwrap();
    assert_eq!(
        decode(&out).unwrap(),
        Some((Frame::Error { seq: 7, code: 1 }, ERROR_LEN))
    );
}

#[test]
fn encoders_refuse_short_buffers() {
    let r = request(20, 1, 0);
    let mut small = [0u8; 100];
    assert_eq!(
        r.encode(&mut small),
        Err(ProtocolError::BufferTooSmall { needed: 416 })
    );
    assert_eq!(
        encode_reply(&r, &mut small),
        Err(ProtocolError::BufferTooSmall { needed: 1616 })
    );
    assert!(Matrix::from_cells(3, &[1, 2]).is_err());
    assert!(Matrix::from_fn(0, |_, _| 0).is_err());
    assert!(Matrix::from_fn(MAX_N + 1, |_, _| 0).is_err());
}

#[test]
fn a_frame_longer_than_the_buffer_is_refused() {
    let r = request(20, 1, 0);
    let mut bytes = [0u8; MAX_REQUEST_LEN];
    let len = r.encode(&mut bytes).unwrap();
    let mut small = FrameBuffer::<64>::new();
    small.spare()[..HEADER_LEN].copy_from_slice(&bytes[..HEADER_LEN]);
    small.filled(HEADER_LEN);
    assert_eq!(small.next_frame().unwrap_err(), ProtocolError::TooLong(len));
}

#[test]
fn the_server_refuses_replies() {
    let r = request(2, 1, 0);
    let mut bytes = [0u8; MAX_REPLY_LEN];
    let len = encode_reply(&r, &mut bytes).unwrap();
    let mut buf = FrameBuffer::<MAX_REPLY_LEN>::new();
    buf.spare()[..len].copy_from_slice(&bytes[..len]);
    buf.filled(len);
    assert_eq!(
        buf.next_request().unwrap_err(),
        ProtocolError::UnexpectedKind(KIND_REPLY)
    );
}

proptest! {
    #[test]
    fn requests_round_trip(n in 1..=MAX_N, seq: u64, priority in 0..PRIORITY_LEVELS, seed: u64) {
        let r = Request { seq, priority, matrix: CellSource::new(seed).matrix(n).unwrap() };
        let mut out = [0u8; MAX_REQUEST_LEN];
        let len = r.encode(&mut out).unwrap();
        prop_assert_eq!(len, r.encoded_len());
        prop_assert_eq!(decode(&out[..len]).unwrap(), Some((Frame::Request(r.clone()), len)));
        // Every strict prefix is "incomplete", never an error.
        for cut in 0..len {
            prop_assert_eq!(decode(&out[..cut]).unwrap(), None);
        }
    }

    /// Frames split at arbitrary points, several per read, come out
    /// whole and in order.
    #[test]
    fn frames_survive_any_split(
        sizes in proptest::collection::vec(1..=MAX_N, 1..6),
        chunk in 1usize..700,
    ) {
        let requests: Vec<Request> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| request(n, i as u64, (i % 8) as u8))
            .collect();
        let mut stream = Vec::new();
        for r in &requests {
            let mut out = [0u8; MAX_REQUEST_LEN];
            let len = r.encode(&mut out).unwrap();
            stream.extend_from_slice(&out[..len]);
        }
        let mut buf = FrameBuffer::<MAX_REQUEST_LEN>::new();
        let mut got = Vec::new();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let spare = buf.spare();
            let take = chunk.min(spare.len()).min(rest.len());
            prop_assert!(take > 0, "the buffer filled up without a frame");
            spare[..take].copy_from_slice(&rest[..take]);
            buf.filled(take);
            rest = &rest[take..];
            while let Some(r) = buf.next_request().unwrap() {
                got.push(r);
            }
        }
        prop_assert_eq!(buf.pending(), 0);
        prop_assert_eq!(got, requests);
    }

    /// Arbitrary bytes never panic, whatever the split.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000), chunk in 1usize..500) {
        let _ = decode(&bytes);
        let mut buf = FrameBuffer::<MAX_REPLY_LEN>::new();
        for piece in bytes.chunks(chunk) {
            let spare = buf.spare();
            let take = piece.len().min(spare.len());
            spare[..take].copy_from_slice(&piece[..take]);
            buf.filled(take);
            match buf.next_frame() {
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }

    /// Bytes that start like a header, with random fields, never panic
    /// and decode only to frames that encode back to the same bytes.
    #[test]
    fn header_like_bytes(kind in 0u8..5, n in 0u8..40, p in 0u8..70, code in 0u8..13, tail in proptest::collection::vec(any::<u8>(), 0..5000)) {
        let mut bytes = vec![b'N', b'B', VERSION, kind, n, p, code, 0];
        bytes.extend_from_slice(&tail);
        if let Ok(Some((frame, len))) = decode(&bytes) {
            let mut out = vec![0u8; MAX_REPLY_LEN];
            match frame {
                Frame::Request(r) => {
                    prop_assert_eq!(r.encode(&mut out).unwrap(), len);
                    prop_assert_eq!(&out[..len], &bytes[..len]);
                }
                Frame::Error { .. } | Frame::Reply(_) => prop_assert!(len >= HEADER_LEN),
            }
        }
    }
}
