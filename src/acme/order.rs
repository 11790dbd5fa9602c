//! One order (RFC 8555 §7.4) for one name with instant-acme: the account (kept on disk per CA
//! directory, made on first use), the authorization's challenge (the first of `[acme]
//! challenges` the CA offers) set up in `AcmeCerts` for the listeners to answer, the CSR
//! (a fresh ECDSA P-256 key, rcgen) and the certificate chain.

use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};

use super::alpn_share::{add_message, channel, remove_message};
use super::http::Http;
use super::store::{Store, Stored};
use crate::config::acme::{AcmeSettings, Challenge};
use crate::tls::acme::{alpn_certificate, AcmeCerts};

/// How long the CA gets to validate, and then to issue.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .timeout(Duration::from_secs(90));

/// The account for `settings.directory`: the kept one, or a new one (then kept).
pub async fn account(settings: &AcmeSettings, store: &Store) -> Result<Account, String> {
    let http = || Box::new(Http(settings.client.clone()));
    let dir = &settings.directory;
    if let Some(json) = store.account(dir) {
        match serde_json::from_str::<AccountCredentials>(&json) {
            Ok(creds) => {
                let builder = Account::builder_with_http(http());
                return builder.from_credentials(creds).await.map_err(text);
            }
            Err(e) => {
                tracing::warn!(error = %e, "ACME: the kept account cannot be read; making a new one")
            }
        }
    }
    let contact: Vec<&str> = settings.contact.iter().map(String::as_str).collect();
    let new = NewAccount {
        contact: &contact,
        terms_of_service_agreed: true,
        only_return_existing: false,
    };
    let builder = Account::builder_with_http(http());
    let (account, creds) = builder
        .create(&new, dir.clone(), None)
        .await
        .map_err(text)?;
    let json = serde_json::to_string(&creds).map_err(text)?;
    if let Err(e) = store.save_account(dir, &json) {
        tracing::warn!(error = %e, "ACME: cannot keep the account on disk");
    }
    Ok(account)
}

/// Where an order's challenges are set up: the listeners' `AcmeCerts`, and the store that
/// publishes HTTP-01 tokens to the other instances in cluster mode.
pub struct Setup<'a> {
    pub certs: &'a AcmeCerts,
    pub store: &'a Store,
}

/// Orders a certificate for `name`; the challenges set up for it are removed whatever the end.
pub async fn order(
    account: &Account,
    name: &str,
    challenges: &[Challenge],
    setup: Setup<'_>,
) -> Result<Stored, String> {
    let mut tokens = Vec::new();
    let result = run(account, name, challenges, &setup, &mut tokens).await;
    for t in &tokens {
        setup.certs.remove_token(t);
        if let Err(e) = setup.store.unpublish_token(t).await {
            tracing::debug!(error = %e, "ACME: cannot withdraw an HTTP-01 token from Redis");
        }
    }
    if setup.certs.has_alpn(name) {
        setup.certs.remove_alpn(name);
        share_alpn(setup.store, &remove_message(name)).await;
    }
    result
}

/// Cluster mode: publishes a TLS-ALPN-01 message to every instance, and gives the others a
/// moment to install the certificate before the CA is told to validate.
async fn share_alpn(store: &Store, message: &str) {
    let Some((_, prefix)) = store.redis() else {
        return;
    };
    match store.publish(&channel(&prefix), message).await {
        Ok(n) if n > 1 => tokio::time::sleep(Duration::from_millis(250)).await,
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "ACME: cannot share the TLS-ALPN-01 challenge through Redis; only this instance answers it")
        }
    }
}

async fn run(
    account: &Account,
    name: &str,
    challenges: &[Challenge],
    setup: &Setup<'_>,
    tokens: &mut Vec<String>,
) -> Result<Stored, String> {
    let certs = setup.certs;
    let ids = [Identifier::Dns(name.to_owned())];
    let mut order = account
        .new_order(&NewOrder::new(&ids))
        .await
        .map_err(text)?;
    let mut auths = order.authorizations();
    while let Some(auth) = auths.next().await {
        let mut auth = auth.map_err(text)?;
        match auth.status {
            AuthorizationStatus::Valid => continue,
            AuthorizationStatus::Pending => {}
            other => return Err(format!("the authorization is {other:?}")),
        }
        let offered = |c: &&Challenge| auth.challenges.iter().any(|o| o.r#type == kind(**c));
        let Some(&chosen) = challenges.iter().find(offered) else {
            return Err("the CA offers none of the configured challenge types".into());
        };
        let mut ch = auth
            .challenge(kind(chosen))
            .ok_or("the challenge vanished")?;
        let key_auth = ch.key_authorization();
        match chosen {
            Challenge::Http01 => {
                certs.add_token(&ch.token, key_auth.as_str());
                tokens.push(ch.token.clone());
                if let Err(e) = setup
                    .store
                    .publish_token(&ch.token, key_auth.as_str())
                    .await
                {
                    tracing::warn!(error = %e, "ACME: cannot share the HTTP-01 token through Redis; only this instance answers it");
                }
            }
            Challenge::TlsAlpn01 => {
                let digest = key_auth.digest();
                let cert = alpn_certificate(name, digest.as_ref())?;
                certs.add_alpn(name, Arc::new(cert));
                share_alpn(setup.store, &add_message(name, digest.as_ref())).await;
            }
        }
        ch.set_ready().await.map_err(text)?;
    }
    let status = order.poll_ready(&POLL).await.map_err(text)?;
    if status != OrderStatus::Ready {
        return Err(format!("the order is {status:?}"));
    }
    let key = rcgen::KeyPair::generate().map_err(text)?;
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).map_err(text)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).map_err(text)?;
    order.finalize_csr(csr.der()).await.map_err(text)?;
    let chain = order.poll_certificate(&POLL).await.map_err(text)?;
    Ok(Stored {
        cert_pem: chain,
        key_pem: key.serialize_pem(),
    })
}

fn kind(c: Challenge) -> ChallengeType {
    match c {
        Challenge::Http01 => ChallengeType::Http01,
        Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
    }
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}
