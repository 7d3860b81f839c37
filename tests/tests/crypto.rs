//! `tos_hash` and `tos_ed25519_verify` against published test vectors, through the syscall
//! bodies every engine runs and the real host.

use tos_engine_api::{Call, GasMeter, SliceMemory, Trap};
use tos_host::testing::{devnet_host, with_call_host};
use tos_host::{MemoryProvider, TxContext};
use tos_syscalls::{SyscallError, invoke};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// Runs syscall `name` with `args` over a memory of `bytes` mapped at 0x1000 (writable).
fn run(name: &str, bytes: &mut [u8], args: [u64; 5]) -> (Result<u64, SyscallError>, u64) {
    let host = devnet_host();
    let mut state = MemoryProvider::default();
    let tx = TxContext {
        height: 1,
        ..TxContext::default()
    };
    let live = host.protocol_at(1).syscalls();
    let syscall = live.by_name(name).unwrap();
    let (r, _) = with_call_host(&host, &mut state, &tx, [1; 32], Call::Entry(0), &[], |h| {
        let mut memory = SliceMemory::new(0x1000, bytes, true);
        let mut gas = GasMeter::new(10_000_000);
        let r = invoke(syscall, h, &mut memory, &mut gas, args);
        (r, gas.used())
    })
    .unwrap();
    r
}

fn digest(algo: u64, data: &[u8]) -> Vec<u8> {
    let mut mem = [data, &[0u8; 32]].concat();
    let out = 0x1000 + data.len() as u64;
    let (r, gas) = run(
        "tos_hash",
        &mut mem,
        [algo, 0x1000, data.len() as u64, out, 0],
    );
    assert_eq!(r, Ok(0));
    assert_eq!(gas, 1_500 + 20 * data.len() as u64, "base + 20 per byte");
    mem[data.len()..].to_vec()
}

#[test]
fn hashes_match_published_vectors() {
    // BLAKE3: the reference implementation's test vectors (input of length 0) and "abc".
    let vectors: [(u64, &[u8], &str); 7] = [
        (
            0,
            b"",
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        ),
        (
            0,
            b"abc",
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
        ),
        // SHA-256: FIPS 180-2 appendix B.1 and the empty string.
        (
            1,
            b"",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            1,
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            1,
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
        // Keccak-256 (Ethereum's, original padding): the empty string and "abc".
        (
            2,
            b"",
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
        ),
        (
            2,
            b"abc",
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
        ),
    ];
    for (algo, data, want) in vectors {
        assert_eq!(
            hex::encode(digest(algo, data)),
            want,
            "algo {algo} of {data:?}"
        );
    }
}

#[test]
fn an_unknown_hash_algorithm_traps_before_charging_per_byte() {
    let mut mem = [0u8; 64];
    let (r, gas) = run("tos_hash", &mut mem, [3, 0x1000, 32, 0x1020, 0]);
    let trap = r.unwrap_err().into_trap("tos_hash", "test").unwrap();
    match trap {
        Trap::Syscall { reason, .. } => assert!(reason.contains("unknown hash algorithm 3")),
        other => panic!("{other:?}"),
    }
    assert_eq!(gas, 1_500);
}

/// RFC 8032, section 7.1: TEST 1, 2, 3 (public key, message, signature).
const RFC8032: [(&str, &str, &str); 3] = [
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

/// `tos_ed25519_verify` over key ‖ msg ‖ sig laid out at 0x1000.
fn verify(key: &[u8], msg: &[u8], sig: &[u8]) -> u64 {
    let mut mem = [key, msg, sig].concat();
    let msg_at = 0x1000 + 32;
    let sig_at = msg_at + msg.len() as u64;
    let (r, gas) = run(
        "tos_ed25519_verify",
        &mut mem,
        [0x1000, msg_at, msg.len() as u64, sig_at, 0],
    );
    assert_eq!(gas, 270_000 + 10 * msg.len() as u64);
    r.unwrap()
}

#[test]
fn ed25519_accepts_the_rfc_8032_vectors_and_refuses_tampered_ones() {
    for (key, msg, sig) in RFC8032 {
        let (key, msg, sig) = (h(key), h(msg), h(sig));
        assert_eq!(verify(&key, &msg, &sig), 0, "valid: {}", hex::encode(&msg));
        // A flipped bit anywhere: in the message, the signature's R, its S, the key.
        let mut m = msg.clone();
        m.push(0);
        assert_eq!(verify(&key, &m, &sig), 1);
        for i in [0, 40] {
            let mut s = sig.clone();
            s[i] ^= 1;
            assert_eq!(verify(&key, &msg, &s), 1, "signature byte {i}");
        }
        let mut k = key.clone();
        k[3] ^= 0x10;
        assert_eq!(verify(&k, &msg, &sig), 1, "another key");
    }
}

#[test]
fn ed25519_is_strict_about_weak_keys_and_non_canonical_s() {
    let (key, msg, sig) = (h(RFC8032[0].0), h(RFC8032[0].1), h(RFC8032[0].2));
    // S + L (the group order) verifies under a lax rule; the strict rule refuses it.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut s = sig.clone();
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(s[32 + i]) + u16::from(L[i]) + carry;
        s[32 + i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(verify(&key, &msg, &s), 1, "S >= L");
    // The identity point as a key (small order): refused whatever the signature.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(verify(&identity, &msg, &sig), 1);
}
