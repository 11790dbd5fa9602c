//! Cluster mode, TLS-ALPN-01: the CA's validation handshake may reach any instance, so the
//! ordering instance publishes each challenge on `PREFIX:acme:alpn` (`add NAME DIGEST-HEX`,
//! then `remove NAME`), and every instance follows the channel and installs (or drops) the
//! challenge certificate in its own `AcmeCerts`, which its SNI resolver serves. The follower
//! reconnects after a Redis error.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::Client;

use crate::tls::acme::{alpn_certificate, AcmeCerts};

/// The channel of `prefix`.
pub fn channel(prefix: &str) -> String {
    format!("{prefix}:acme:alpn")
}

/// The message that announces a challenge for `name`.
pub fn add_message(name: &str, digest: &[u8]) -> String {
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("add {name} {hex}")
}

/// The message that withdraws it.
pub fn remove_message(name: &str) -> String {
    format!("remove {name}")
}

/// At most this many followed challenges are installed at once (instances of a cluster may
/// order different names, so any name is followed); beyond it, new ones are ignored until
/// `remove`s come. A lost `remove` can thus never grow the table without bound.
pub const MAX_FOLLOWED: usize = 1024;

/// Follows the channel until the task is aborted.
pub async fn follow(client: Client, channel: String, certs: Arc<AcmeCerts>) {
    loop {
        if let Err(e) = session(&client, &channel, &certs).await {
            tracing::debug!(error = %e, "ACME: following shared TLS-ALPN-01 challenges failed; retrying");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn session(client: &Client, channel: &str, certs: &AcmeCerts) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let text: String = msg.get_payload().unwrap_or_default();
        apply(&text, certs);
    }
    Ok(())
}

/// Applies one message; malformed ones, and new challenges beyond `MAX_FOLLOWED`, are ignored.
pub fn apply(text: &str, certs: &AcmeCerts) {
    let mut words = text.split(' ');
    match (words.next(), words.next(), words.next()) {
        (Some("add"), Some(name), Some(hex))
            if certs.has_alpn(name) || certs.alpn_count() < MAX_FOLLOWED =>
        {
            let Some(digest) = unhex(hex) else { return };
            match alpn_certificate(name, &digest) {
                Ok(cert) => certs.add_alpn(name, Arc::new(cert)),
                Err(e) => {
                    tracing::warn!(%name, error = %e, "ACME: cannot make a TLS-ALPN-01 certificate")
                }
            }
        }
        (Some("remove"), Some(name), None) => certs.remove_alpn(name),
        _ => {}
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_install_and_withdraw_the_challenge() {
        let certs = AcmeCerts::default();
        apply(&add_message("a.test", &[9; 32]), &certs);
        assert!(certs.has_alpn("a.test"));
        apply("add b.test 12", &certs); // not a SHA-256 digest
        assert!(!certs.has_alpn("b.test"));
        apply(&remove_message("a.test"), &certs);
        assert!(!certs.has_alpn("a.test"));
    }

    #[test]
    fn followed_challenges_are_bounded() {
        let certs = AcmeCerts::default();
        for i in 0..MAX_FOLLOWED {
            certs.add_alpn(&format!("n{i}.test"), Arc::new(placeholder()));
        }
        apply(&add_message("over.test", &[9; 32]), &certs);
        assert!(!certs.has_alpn("over.test"));
        assert_eq!(certs.alpn_count(), MAX_FOLLOWED);
        // A name already followed is still replaced.
        apply(&add_message("n0.test", &[9; 32]), &certs);
        assert!(certs.has_alpn("n0.test"));
    }

    fn placeholder() -> rustls::sign::CertifiedKey {
        alpn_certificate("p.test", &[1; 32]).unwrap()
    }
}
