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

/// Follows the channel until the task is aborted. Only challenges for `names` (the
/// `[acme] names`) are installed, so the table stays bounded by the config even when a
/// `remove` is lost.
pub async fn follow(client: Client, channel: String, certs: Arc<AcmeCerts>, names: Arc<[String]>) {
    loop {
        if let Err(e) = session(&client, &channel, &certs, &names).await {
            tracing::debug!(error = %e, "ACME: following shared TLS-ALPN-01 challenges failed; retrying");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn session(
    client: &Client,
    channel: &str,
    certs: &AcmeCerts,
    names: &[String],
) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let text: String = msg.get_payload().unwrap_or_default();
        apply(&text, certs, names);
    }
    Ok(())
}

/// Applies one message; malformed ones, and challenges for names not in `names`, are ignored.
pub fn apply(text: &str, certs: &AcmeCerts, names: &[String]) {
    let mut words = text.split(' ');
    match (words.next(), words.next(), words.next()) {
        (Some("add"), Some(name), Some(hex)) if names.iter().any(|n| n == name) => {
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
        let names = ["a.test".to_owned(), "b.test".to_owned()];
        apply(&add_message("a.test", &[9; 32]), &certs, &names);
        assert!(certs.has_alpn("a.test"));
        apply("add b.test 12", &certs, &names); // not a SHA-256 digest
        assert!(!certs.has_alpn("b.test"));
        apply(&add_message("other.test", &[9; 32]), &certs, &names); // not configured
        assert!(!certs.has_alpn("other.test"));
        apply(&remove_message("a.test"), &certs, &names);
        assert!(!certs.has_alpn("a.test"));
    }
}
