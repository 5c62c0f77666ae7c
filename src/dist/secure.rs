//! The channel's security, without I/O. A worker and its coordinator prove to each other
//! that they hold the run's token without ever sending it: the coordinator answers the
//! worker's nonce first (so an impostor learns nothing and gives no orders), then the worker
//! answers the coordinator's, each with an HMAC over the whole exchange. They agree on session
//! keys by X25519, so another holder of the token watching the wire can neither read nor
//! forge a session, and every later message is sealed (ChaCha20-Poly1305) with the run's id,
//! the worker's id, the path and a sequence number: a message cannot be altered, replayed,
//! or taken for another run's or another worker's.

use crate::cli::args::RoleArg;
use base64::Engine as _;
use ring::{aead, agreement, digest, hkdf, hmac, rand};
use serde::{Deserialize, Serialize};

/// The exchange failed: a wrong token, a forged or altered message, or a bad field.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(pub &'static str);

/// Step 1, worker to coordinator: who it is, its nonce and key share, its clock and memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub name: String,
    pub nonce: String,
    pub key: String,
    pub now_unix_ms: u64,
    /// Memory this worker can give the run (bytes), for the coordinator's share check.
    pub memory_bytes: Option<u64>,
    /// Which users it runs (`--role`).
    #[serde(default)]
    pub role: RoleArg,
}

/// Step 2, coordinator to worker: the run, its own nonce and key share, and its proof.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Challenge {
    pub run: String,
    /// Names this exchange in step 3.
    pub id: String,
    pub nonce: String,
    pub key: String,
    pub now_unix_ms: u64,
    /// HMAC-SHA256(token, "coordinator" + transcript).
    pub proof: String,
}

/// Step 3, worker to coordinator: its proof over the same transcript.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answer {
    pub id: String,
    /// HMAC-SHA256(token, "worker" + transcript).
    pub proof: String,
}

/// What a sealed message is bound to besides its keys.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub run: &'a str,
    pub worker: u64,
    pub path: &'a str,
    /// Strictly increasing per worker; a response carries its request's.
    pub seq: u64,
}

impl Binding<'_> {
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        field(&mut out, self.run.as_bytes());
        field(&mut out, &self.worker.to_be_bytes());
        field(&mut out, self.path.as_bytes());
        out
    }

    fn nonce(&self) -> aead::Nonce {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.seq.to_be_bytes());
        aead::Nonce::assume_unique_for_key(n)
    }
}

/// A session's keys: one for each direction.
pub struct Keys {
    seal: aead::LessSafeKey,
    open: aead::LessSafeKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    /// `data` encrypted and authenticated for the other side.
    pub fn seal(&self, at: Binding<'_>, mut data: Vec<u8>) -> Vec<u8> {
        self.seal
            .seal_in_place_append_tag(at.nonce(), aead::Aad::from(at.bytes()), &mut data)
            .expect("sealing fits in memory");
        data
    }

    /// The other side's message, if it is theirs and unaltered.
    pub fn open(&self, at: Binding<'_>, mut data: Vec<u8>) -> Result<Vec<u8>, AuthError> {
        let n = self
            .open
            .open_in_place(at.nonce(), aead::Aad::from(at.bytes()), &mut data)
            .map_err(|_| AuthError("a message failed its authentication"))?
            .len();
        data.truncate(n);
        Ok(data)
    }
}

/// The worker's side between steps 1 and 3.
pub struct WorkerSide {
    private: agreement::EphemeralPrivateKey,
    hello: Hello,
}

impl WorkerSide {
    /// Step 1.
    pub fn hello(name: &str, now_unix_ms: u64, memory_bytes: Option<u64>) -> (WorkerSide, Hello) {
        Self::hello_as(name, now_unix_ms, memory_bytes, RoleArg::Any)
    }

    /// Step 1 for a worker with a role.
    pub fn hello_as(
        name: &str,
        now_unix_ms: u64,
        memory_bytes: Option<u64>,
        role: RoleArg,
    ) -> (WorkerSide, Hello) {
        let (private, key) = key_share();
        let hello = Hello {
            name: name.to_string(),
            nonce: random_b64(32),
            key,
            now_unix_ms,
            memory_bytes,
            role,
        };
        (
            WorkerSide {
                private,
                hello: hello.clone(),
            },
            hello,
        )
    }

    /// Step 3: checks the coordinator's proof (nothing is sent to one that fails it), then
    /// proves the token in turn and derives the session's keys.
    pub fn answer(self, token: &str, c: &Challenge) -> Result<(Answer, Keys), AuthError> {
        let transcript = transcript(&self.hello, c);
        if !verify(token, b"coordinator", &transcript, &c.proof) {
            return Err(AuthError(
                "did not prove it holds the token (a wrong token, or not this run's coordinator)",
            ));
        }
        let keys = derive(self.private, &c.key, token, &transcript, Role::Worker)?;
        let answer = Answer {
            id: c.id.clone(),
            proof: prove(token, b"worker", &transcript),
        };
        Ok((answer, keys))
    }
}

/// The coordinator's side between steps 2 and 3.
pub struct CoordinatorSide {
    private: agreement::EphemeralPrivateKey,
    worker_key: String,
    transcript: Vec<u8>,
    pub hello: Hello,
}

impl CoordinatorSide {
    /// Step 2, for `hello` in run `run`: the clock is read once the key share is made, so
    /// the answer leaves right after it.
    pub fn challenge(token: &str, run: &str, hello: Hello) -> (CoordinatorSide, Challenge) {
        let (private, key) = key_share();
        let mut c = Challenge {
            run: run.to_string(),
            id: random_b64(18),
            nonce: random_b64(32),
            key,
            now_unix_ms: super::protocol::now_unix_ms(),
            proof: String::new(),
        };
        let transcript = transcript(&hello, &c);
        c.proof = prove(token, b"coordinator", &transcript);
        (
            CoordinatorSide {
                private,
                worker_key: hello.key.clone(),
                transcript,
                hello,
            },
            c,
        )
    }

    /// Checks step 3 and derives the session's keys.
    pub fn accept(self, token: &str, answer: &Answer) -> Result<Keys, AuthError> {
        if !verify(token, b"worker", &self.transcript, &answer.proof) {
            return Err(AuthError("the worker did not prove it holds the token"));
        }
        derive(
            self.private,
            &self.worker_key,
            token,
            &self.transcript,
            Role::Coordinator,
        )
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Worker,
    Coordinator,
}

fn key_share() -> (agreement::EphemeralPrivateKey, String) {
    let rng = rand::SystemRandom::new();
    let private = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng)
        .expect("the system's random source works");
    let public = private
        .compute_public_key()
        .expect("an X25519 public key is computable");
    (private, b64(public.as_ref()))
}

/// Length-prefixed fields: no two exchanges share a transcript.
fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn transcript(h: &Hello, c: &Challenge) -> Vec<u8> {
    let mut t = Vec::new();
    field(&mut t, b"throng-dist-v1");
    for part in [&c.run, &c.id, &h.name, &h.nonce, &h.key, &c.nonce, &c.key] {
        field(&mut t, part.as_bytes());
    }
    field(&mut t, &h.now_unix_ms.to_be_bytes());
    field(&mut t, &h.memory_bytes.unwrap_or(u64::MAX).to_be_bytes());
    field(&mut t, h.role.as_str().as_bytes());
    field(&mut t, &c.now_unix_ms.to_be_bytes());
    digest::digest(&digest::SHA256, &t).as_ref().to_vec()
}

fn prove(token: &str, role: &[u8], transcript: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, token.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(role);
    ctx.update(transcript);
    b64(ctx.sign().as_ref())
}

/// Constant-time check of a proof.
fn verify(token: &str, role: &[u8], transcript: &[u8], proof: &str) -> bool {
    let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(proof) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, token.as_bytes());
    let mut msg = role.to_vec();
    msg.extend_from_slice(transcript);
    hmac::verify(&key, &msg, &tag).is_ok()
}

fn derive(
    private: agreement::EphemeralPrivateKey,
    peer_key: &str,
    token: &str,
    transcript: &[u8],
    role: Role,
) -> Result<Keys, AuthError> {
    let bad = AuthError("a bad key share");
    let peer = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(peer_key)
        .map_err(|_| bad.clone())?;
    let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, peer);
    // The token is bound in too: the keys need both the exchange and the token.
    let salt = {
        let key = hmac::Key::new(hmac::HMAC_SHA256, token.as_bytes());
        let mut msg = b"keys".to_vec();
        msg.extend_from_slice(transcript);
        hmac::sign(&key, &msg)
    };
    let key_for = |prk: &hkdf::Prk, info: &[u8]| -> Result<aead::LessSafeKey, AuthError> {
        let info = [info];
        let okm = prk
            .expand(&info, &aead::CHACHA20_POLY1305)
            .map_err(|_| AuthError("key derivation failed"))?;
        Ok(aead::LessSafeKey::new(aead::UnboundKey::from(okm)))
    };
    agreement::agree_ephemeral(private, &peer, |shared| {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt.as_ref()).extract(shared);
        let to_coordinator = key_for(&prk, b"worker to coordinator")?;
        let to_worker = key_for(&prk, b"coordinator to worker")?;
        Ok(match role {
            Role::Worker => Keys {
                seal: to_coordinator,
                open: to_worker,
            },
            Role::Coordinator => Keys {
                seal: to_worker,
                open: to_coordinator,
            },
        })
    })
    .map_err(|_| bad)?
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `n` random bytes, base64url (nonces, ids, tokens).
pub fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::SecureRandom::fill(&rand::SystemRandom::new(), &mut bytes)
        .expect("the system's random source works");
    b64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(worker_token: &str, coordinator_token: &str) -> Result<(Keys, Keys), AuthError> {
        let (w, hello) = WorkerSide::hello("w", 1, Some(2));
        let (c, challenge) = CoordinatorSide::challenge(coordinator_token, "run1", hello);
        let (answer, wk) = w.answer(worker_token, &challenge)?;
        let ck = c.accept(coordinator_token, &answer)?;
        Ok((wk, ck))
    }

    #[test]
    fn both_sides_prove_the_token_and_share_keys() {
        let (wk, ck) = exchange("s3cret", "s3cret").unwrap();
        let at = Binding {
            run: "run1",
            worker: 4,
            path: "/v1/report",
            seq: 7,
        };
        let sealed = wk.seal(at, b"hello".to_vec());
        assert!(!sealed.windows(5).any(|w| w == b"hello"));
        assert_eq!(ck.open(at, sealed.clone()).unwrap(), b"hello");
        // Bound to its run, worker, path and number; only the other side can open it.
        for other in [
            Binding { run: "run2", ..at },
            Binding { worker: 5, ..at },
            Binding {
                path: "/v1/x",
                ..at
            },
            Binding { seq: 8, ..at },
        ] {
            assert!(ck.open(other, sealed.clone()).is_err());
        }
        assert!(wk.open(at, sealed).is_err());
        let back = ck.seal(at, b"orders".to_vec());
        assert_eq!(wk.open(at, back).unwrap(), b"orders");
    }

    #[test]
    fn a_wrong_token_on_either_side_fails_and_the_worker_checks_first() {
        let err = exchange("mine", "theirs").unwrap_err();
        assert!(err.0.contains("did not prove"), "{err}");
        // A worker that does not hold the token cannot pass step 3 either.
        let (w, hello) = WorkerSide::hello("w", 1, None);
        let (c, challenge) = CoordinatorSide::challenge("tok", "r", hello);
        let (_, _) = w.answer("tok", &challenge).unwrap();
        let forged = Answer {
            id: challenge.id,
            proof: prove("guess", b"worker", &c.transcript),
        };
        assert!(c.accept("tok", &forged).is_err());
    }
}
