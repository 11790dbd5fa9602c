//! Runtime service registration through the admin API against a real gateway and real
//! backends: register, replace and remove a service with its routes (seen by the very next
//! request), refusals with `portcullis check`'s messages, the state file applied again at
//! start, and the overlay surviving a reload of the file.

use crate::common::admin::*;
use crate::common::*;
use http::{Method, StatusCode};
use serde_json::json;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("portcullis-reg-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn file_config(users: &Backend, extra_route: &str) -> String {
    format!(
        r#"
[[services]]
name = "users"
endpoints = ["http://{}"]
[services.health_check]
enabled = false

[[routes]]
name = "users"
path = "/users/*"
service = "users"
{extra_route}
"#,
        users.addr
    )
}

#[tokio::test]
async fn register_replace_remove_and_survive_a_restart() {
    let dir = temp_dir("lifecycle");
    let path = dir.join("gw.toml");
    let (users, billing, billing2) = (
        Backend::echo().await,
        Backend::echo().await,
        Backend::echo().await,
    );
    std::fs::write(&path, file_config(&users, "")).unwrap();
    let (gw, admin) = start_from_file(&path).await;
    assert_eq!(get(&gw.url("/billing/1")).await.0, StatusCode::NOT_FOUND);

    // Register: 201 with Location, and the very next request is routed.
    let body = registration("billing", &billing, "/billing/*");
    let (st, h, text) = call(&admin, Method::POST, "/api/services", None, &body).await;
    assert_eq!(st, StatusCode::CREATED, "{text}");
    assert_eq!(h["location"], "/api/services/billing");
    assert_eq!(get(&gw.url("/billing/1")).await.0, StatusCode::OK);
    assert_eq!(billing.hits(), 1);
    assert_eq!(billing.last().uri, "/billing/1");
    let (_, _, text) = call(&admin, Method::GET, "/api/services/billing", None, "").await;
    assert_eq!(json(text.as_bytes())["origin"], "runtime");
    let (_, _, text) = call(&admin, Method::GET, "/api/services/users", None, "").await;
    assert_eq!(json(text.as_bytes())["origin"], "file");

    // A second POST of the same name conflicts; PUT of an unknown name is 404.
    let (st, _, _) = call(&admin, Method::POST, "/api/services", None, &body).await;
    assert_eq!(st, StatusCode::CONFLICT);
    let nope = registration("nope", &billing, "/nope/*");
    let (st, _, _) = call(&admin, Method::PUT, "/api/services/nope", None, &nope).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, text) = call(&admin, Method::PUT, "/api/services/other", None, &body).await;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "the name differs from the path: {text}"
    );

    // Replace: the next request goes to the new endpoint and the new path.
    let body2 = registration("billing", &billing2, "/pay/*");
    let (st, _, text) = call(&admin, Method::PUT, "/api/services/billing", None, &body2).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    assert_eq!(get(&gw.url("/pay/2")).await.0, StatusCode::OK);
    assert_eq!(billing2.hits(), 1);
    assert_eq!(get(&gw.url("/billing/1")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(billing.hits(), 1);

    // Kept in the state file beside the config, written atomically.
    let state = dir.join("gw.state.json");
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(stored["portcullis_state"], 1);
    assert_eq!(
        stored["services"]["billing"]["put"]["routes"][0]["path"],
        "/pay/*"
    );

    // A reload of an edited file keeps the runtime service.
    let extra = "[[routes]]\nname = \"users-v2\"\npath = \"/v2/users/*\"\nservice = \"users\"\n";
    std::fs::write(&path, file_config(&users, extra)).unwrap();
    let (st, _, text) = call(&admin, Method::POST, "/api/reload", None, "").await;
    assert_eq!(st, StatusCode::OK, "{text}");
    assert_eq!(get(&gw.url("/v2/users/1")).await.0, StatusCode::OK);
    assert_eq!(get(&gw.url("/pay/3")).await.0, StatusCode::OK);
    assert_eq!(billing2.hits(), 2);

    // "Restart": a second gateway from the same files serves the runtime service too.
    drop(admin);
    drop(gw);
    let (gw, admin) = start_from_file(&path).await;
    assert_eq!(get(&gw.url("/pay/4")).await.0, StatusCode::OK);
    assert_eq!(billing2.hits(), 3);

    // Removing a file service is recorded, and survives the next reload and restart.
    let (st, _, text) = call(&admin, Method::DELETE, "/api/services/users", None, "").await;
    assert_eq!(st, StatusCode::OK, "{text}");
    assert_eq!(get(&gw.url("/users/1")).await.0, StatusCode::NOT_FOUND);
    let (st, _, _) = call(&admin, Method::POST, "/api/reload", None, "").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(get(&gw.url("/users/1")).await.0, StatusCode::NOT_FOUND);
    let (st, _, _) = call(&admin, Method::DELETE, "/api/services/users", None, "").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    drop(admin);
    drop(gw);
    let (gw, admin) = start_from_file(&path).await;
    assert_eq!(get(&gw.url("/users/1")).await.0, StatusCode::NOT_FOUND);

    // Removing the runtime service forgets it.
    let (st, _, _) = call(&admin, Method::DELETE, "/api/services/billing", None, "").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(get(&gw.url("/pay/5")).await.0, StatusCode::NOT_FOUND);
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(stored["services"], json!({"users": "removed"}));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn refusals_carry_the_check_messages_and_change_nothing() {
    let dir = temp_dir("refusals");
    let path = dir.join("gw.toml");
    let users = Backend::echo().await;
    std::fs::write(&path, file_config(&users, "")).unwrap();
    let (gw, admin) = start_from_file(&path).await;
    let generation = admin.reloader.generation();

    // 400: not JSON, wrong shape.
    for bad in [
        "{nope",
        "[]",
        "{\"service\": {}}",
        "{\"service\": {\"name\": \"a\"}, \"x\": 1}",
    ] {
        let (st, h, text) = call(&admin, Method::POST, "/api/services", None, bad).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {text}");
        assert_eq!(h["content-type"], "application/problem+json");
    }

    // 422: the same problems `portcullis check` finds in the same tables in a file.
    let body = json!({
        "service": {"name": "billing", "endpoints": ["ftp://10.0.0.1"], "retries": -1},
        "routes": [{"name": "users", "path": "billing/*"}],
    });
    let (st, _, text) = call(
        &admin,
        Method::POST,
        "/api/services",
        None,
        &body.to_string(),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    let errors: Vec<String> =
        serde_json::from_value(json(text.as_bytes())["errors"].clone()).unwrap();
    assert_eq!(errors.len(), 4, "{errors:?}");
    let same_in_a_file = format!(
        "{}\n[[services]]\nname = \"billing\"\nendpoints = [\"ftp://10.0.0.1\"]\nretries = -1\n\
         [[routes]]\nname = \"users\"\npath = \"billing/*\"\nservice = \"billing\"\n",
        file_config(&users, "")
    );
    let check = portcullis::config::parse_str(&same_in_a_file, "f.toml").unwrap_err();
    for e in &check.0 {
        assert!(
            errors.iter().any(|got| got.contains(&e.message)),
            "check says {:?}; the API said {errors:?}",
            e.message
        );
    }
    assert!(errors
        .iter()
        .all(|e| e.starts_with("runtime service \"billing\": ")));
    assert!(errors.iter().any(|e| e.contains("service.endpoints[0]")));
    assert!(errors.iter().any(|e| e.contains("routes[0].path")));

    // Nothing changed: same generation, no state file, the service is not routed.
    assert_eq!(admin.reloader.generation(), generation);
    assert!(!dir.join("gw.state.json").exists());
    assert_eq!(get(&gw.url("/users/1")).await.0, StatusCode::OK);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_state_file_that_no_longer_fits_the_config_is_refused_at_start() {
    let dir = temp_dir("misfit");
    let path = dir.join("gw.toml");
    let users = Backend::echo().await;
    std::fs::write(&path, file_config(&users, "")).unwrap();
    let state = json!({
        "portcullis_state": 1,
        "services": {"billing": {"put": {
            "service": {"name": "billing", "endpoints": ["http://127.0.0.1:1"]},
            "routes": [{"name": "users", "path": "/b/*", "service": "billing"}],
        }}},
    });
    std::fs::write(dir.join("gw.state.json"), state.to_string()).unwrap();
    let errors = portcullis::registry::load_config(&path).unwrap_err();
    assert!(errors[0].contains("gw.state.json"), "{errors:?}");
    assert!(
        errors[1].contains("runtime service \"billing\": routes[0].name: duplicate route name"),
        "{errors:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_canary_split_is_registered_and_its_weights_moved_through_the_admin_api() {
    let dir = temp_dir("canary");
    let path = dir.join("gw.toml");
    let (users, v2) = (Backend::echo().await, Backend::echo().await);
    std::fs::write(&path, file_config(&users, "")).unwrap();
    let (gw, admin) = start_from_file(&path).await;
    let canary = |v1: u32, v2w: u32| {
        json!({
            "service": {"name": "users-v2", "endpoints": [format!("http://{}", v2.addr)],
                        "health_check": {"enabled": false}},
            "routes": [
                {"name": "me", "path": "/me", "split": [
                    {"service": "users", "weight": v1}, {"service": "users-v2", "weight": v2w}]},
                {"name": "robots", "path": "/robots.txt",
                 "respond": {"status": 200, "body": "User-agent: *\nDisallow: /\n"}}
            ]
        })
        .to_string()
    };
    let (st, _, text) = call(&admin, Method::POST, "/api/services", None, &canary(9, 1)).await;
    assert_eq!(st, StatusCode::CREATED, "{text}");
    for _ in 0..100 {
        assert_eq!(get(&gw.url("/me")).await.0, StatusCode::OK);
    }
    assert_eq!((users.hits(), v2.hits()), (90, 10));
    // Gradual rollout: all of it to v2 by one PUT.
    let put = canary(0, 1);
    let (st, _, text) = call(&admin, Method::PUT, "/api/services/users-v2", None, &put).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    for _ in 0..20 {
        get(&gw.url("/me")).await;
    }
    assert_eq!((users.hits(), v2.hits()), (90, 30));
    let (st, _, body) = get(&gw.url("/robots.txt")).await;
    assert_eq!(
        (st, &body[..]),
        (StatusCode::OK, &b"User-agent: *\nDisallow: /\n"[..])
    );
    // A split that gives the registered service no share is refused.
    let foreign = json!({
        "service": {"name": "x", "endpoints": [format!("http://{}", v2.addr)]},
        "routes": [{"name": "x", "path": "/x", "split": [{"service": "users", "weight": 1}]}]
    });
    let (st, _, text) = call(
        &admin,
        Method::POST,
        "/api/services",
        None,
        &foreign.to_string(),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("must give a share"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
