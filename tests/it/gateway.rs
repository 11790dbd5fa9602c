//! The composition root itself (`portcullis::Gateway`): it binds what the config says and
//! reports the addresses it got, a socket it cannot bind is one clear error, the clock given to
//! the builder survives reloads, and `run` returns once its shutdown future resolves.

use std::time::Duration;

use crate::common::*;
use portcullis::clock::Clock;
use portcullis::Gateway;

fn config(backend: &Backend) -> portcullis::Config {
    let text = format!(
        "[[services]]\nname = \"echo\"\nendpoints = [\"http://{}\"]\n\
         [services.health_check]\nenabled = false\n\
         [[routes]]\nname = \"all\"\npath = \"/*\"\nservice = \"echo\"\n",
        backend.addr
    );
    let mut config = portcullis::config::parse_str(&text, "gw.toml").unwrap();
    config.server.threads = 1;
    config
}

#[tokio::test]
async fn binds_what_the_config_says_and_runs_until_shutdown() {
    let be = Backend::echo().await;
    let mut config = config(&be);
    config.server.listen = vec!["127.0.0.1:0".parse().unwrap()];
    config.admin.listen = "127.0.0.1:0".parse().unwrap();
    let gw = Gateway::builder(config).start().await.unwrap();
    let (addr, admin) = (
        gw.addrs()[0],
        gw.admin_addr().expect("admin is on by default"),
    );
    assert_ne!(addr.port(), 0);
    assert!(gw.tls_addrs().is_empty());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gw.run(async move {
        let _ = rx.await;
    }));
    assert_eq!(get(&format!("http://{addr}/x")).await.0, 200);
    assert_eq!(get(&format!("http://{admin}/livez")).await.0, 200);
    let _ = tx.send(());
    let done = tokio::time::timeout(Duration::from_secs(5), task).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
    for a in [addr, admin] {
        assert!(
            tokio::net::TcpStream::connect(a).await.is_err(),
            "{a} still accepts"
        );
    }
}

#[tokio::test]
async fn a_socket_it_cannot_bind_is_one_error_naming_it() {
    let be = Backend::echo().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = taken.local_addr().unwrap();
    let mut c = config(&be);
    c.server.listen = vec![at];
    let Err(e) = Gateway::builder(c).without_admin().start().await else {
        panic!("started on a taken port");
    };
    assert!(
        e.to_string()
            .starts_with(&format!("cannot listen on {at}: ")),
        "{e}"
    );

    let mut c = config(&be);
    c.server.listen = vec!["127.0.0.1:0".parse().unwrap()];
    c.admin.listen = at;
    let Err(e) = Gateway::builder(c).start().await else {
        panic!("started with the admin port taken");
    };
    assert!(
        e.to_string()
            .starts_with(&format!("cannot listen on {at} (admin): ")),
        "{e}"
    );
}

#[tokio::test]
async fn the_clock_given_to_the_builder_is_kept_across_reloads() {
    let be = Backend::echo().await;
    let policy = "[policies.one]\n[[policies.one.rate_limit]]\nname = \"hourly\"\n\
                  rate = 1\nper = \"1h\"\nburst = 1\n";
    let text = policy_route_config(be.addr, "", policy, "one");
    let mut config = portcullis::config::parse_str(&text, "gw.toml").unwrap();
    config.server.threads = 1;
    let clock = Clock::manual();
    let gw = start_gateway_with(config.clone(), |b| b.clock(clock.clone())).await;
    assert_eq!(get(&gw.url("/x")).await.0, 200);
    assert_eq!(get(&gw.url("/x")).await.0, 429);
    // A reload builds new snapshots: they read the same manual clock, so moving it an hour
    // refills the limit at once (the system clock would keep refusing for an hour).
    gw.reloader.apply(config).unwrap();
    assert_eq!(get(&gw.url("/x")).await.0, 429);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(get(&gw.url("/x")).await.0, 200);
}
