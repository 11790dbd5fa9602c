//! `POST /api/services`, `PUT` and `DELETE /api/services/{name}`: runtime registration of a
//! service with its routes, validated exactly as the config file is (`crate::registry`); the
//! same for `[consumers.NAME]` and `[policies.NAME]` tables at `/api/consumers` and
//! `/api/policies`.
//! Status codes: 201 created, 200 replaced or removed, 400 a body of the wrong shape, 404 no
//! such service, 409 already exists, 413 too large, 422 does not validate (with the messages
//! `portcullis check` prints), 500 could not be stored.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{invalid, problem, AdminState};
use crate::registry::{Kind, Op, Refusal, MAX_BODY};

pub(super) async fn create(State(st): State<AdminState>, body: Bytes) -> Response {
    put(st, body, None).await
}

pub(super) async fn replace(
    State(st): State<AdminState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    put(st, body, Some(name)).await
}

pub(super) async fn remove(State(st): State<AdminState>, Path(name): Path<String>) -> Response {
    let reloader = st.reloader.clone();
    let n = name.clone();
    match tokio::task::spawn_blocking(move || reloader.unregister(&n)).await {
        Ok(Ok(generation)) => {
            Json(json!({ "removed": name, "generation": generation })).into_response()
        }
        Ok(Err(r)) => refusal(r),
        Err(_) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "registration task failed",
        ),
    }
}

async fn put(st: AdminState, body: Bytes, name: Option<String>) -> Response {
    if body.len() > MAX_BODY {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than 1 MiB",
        );
    }
    let op = match name {
        None => Op::Create,
        Some(_) => Op::Replace,
    };
    let reloader = st.reloader.clone();
    let task = move || reloader.register(&body, name.as_deref(), op);
    match tokio::task::spawn_blocking(task).await {
        Ok(Ok((name, generation))) => {
            let body = Json(json!({ "service": name, "generation": generation }));
            match op {
                Op::Create => {
                    let mut resp = (StatusCode::CREATED, body).into_response();
                    if let Ok(v) = HeaderValue::from_str(&format!("/api/services/{name}")) {
                        resp.headers_mut().insert(header::LOCATION, v);
                    }
                    resp
                }
                Op::Replace => body.into_response(),
            }
        }
        Ok(Err(r)) => refusal(r),
        Err(_) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "registration task failed",
        ),
    }
}

/// The consumer and policy handlers, one set per kind (axum handlers cannot take the kind as
/// an argument).
macro_rules! table_handlers {
    ($kind:expr, $create:ident, $replace:ident, $remove:ident) => {
        pub(super) async fn $create(State(st): State<AdminState>, body: Bytes) -> Response {
            put_table(st, $kind, body, None).await
        }

        pub(super) async fn $replace(
            State(st): State<AdminState>,
            Path(name): Path<String>,
            body: Bytes,
        ) -> Response {
            put_table(st, $kind, body, Some(name)).await
        }

        pub(super) async fn $remove(
            State(st): State<AdminState>,
            Path(name): Path<String>,
        ) -> Response {
            remove_table(st, $kind, name).await
        }
    };
}

table_handlers!(
    Kind::Consumer,
    create_consumer,
    replace_consumer,
    remove_consumer
);
table_handlers!(Kind::Policy, create_policy, replace_policy, remove_policy);

async fn put_table(st: AdminState, kind: Kind, body: Bytes, name: Option<String>) -> Response {
    if body.len() > MAX_BODY {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than 1 MiB",
        );
    }
    let op = if name.is_some() {
        Op::Replace
    } else {
        Op::Create
    };
    let reloader = st.reloader.clone();
    let task = move || reloader.put_table(kind, &body, name.as_deref(), op);
    match tokio::task::spawn_blocking(task).await {
        Ok(Ok((name, generation))) => {
            let body = Json(json!({ kind.noun(): name, "generation": generation }));
            if op == Op::Replace {
                return body.into_response();
            }
            let mut resp = (StatusCode::CREATED, body).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("/api/{}/{name}", kind.key())) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
        Ok(Err(r)) => refusal(r),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "change task failed"),
    }
}

async fn remove_table(st: AdminState, kind: Kind, name: String) -> Response {
    let reloader = st.reloader.clone();
    let n = name.clone();
    match tokio::task::spawn_blocking(move || reloader.remove_table(kind, &n)).await {
        Ok(Ok(generation)) => {
            Json(json!({ "removed": name, "generation": generation })).into_response()
        }
        Ok(Err(r)) => refusal(r),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "change task failed"),
    }
}

/// The problem+json answer for a refused change.
fn refusal(r: Refusal) -> Response {
    match r {
        Refusal::BadRequest(m) => problem(StatusCode::BAD_REQUEST, &m),
        Refusal::Conflict(m) => problem(StatusCode::CONFLICT, &m),
        Refusal::NotFound(m) => problem(StatusCode::NOT_FOUND, &m),
        Refusal::Failed(m) => problem(StatusCode::INTERNAL_SERVER_ERROR, &m),
        Refusal::Invalid(errors) => {
            invalid("the change does not validate; nothing was changed", errors)
        }
    }
}
