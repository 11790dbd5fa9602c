//! Printed curl command lines read back as the requests they send (method, URL, headers, body),
//! so tests can send exactly what a printed line would.

use http::{HeaderMap, Method, Request, StatusCode};

use portcullis::demo::Call;

use super::{full, send};

/// An answer: status, headers and the body as text.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// A request as a printed curl line says it: method, URL, headers, body.
#[derive(Debug, PartialEq)]
pub struct Parsed {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl From<&Call> for Parsed {
    fn from(c: &Call) -> Parsed {
        Parsed {
            method: c.method.clone(),
            url: c.url.clone(),
            headers: c
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect(),
            body: c.body.clone(),
        }
    }
}

/// Splits a shell line into words, honouring single quotes.
pub fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find(|c: char| c != ' ') {
        rest = &rest[start..];
        let (word, next) = match rest.strip_prefix('\'') {
            Some(quoted) => quoted.split_once('\'').expect("a closing quote"),
            None => rest.split_once(' ').unwrap_or((rest, "")),
        };
        words.push(word.to_owned());
        rest = next;
    }
    words
}

/// A printed curl line as the request it sends:
/// `curl [-i|-s|-si|-g] [-X M] URL [-H 'k: v']... [-d '..']` (`-d` without `-X` is a POST).
pub fn parse_curl(line: &str) -> Parsed {
    let mut p = Parsed {
        method: Method::GET,
        url: String::new(),
        headers: Vec::new(),
        body: None,
    };
    let mut method = None;
    let mut it = words(line).into_iter();
    assert_eq!(it.next().as_deref(), Some("curl"), "{line}");
    while let Some(w) = it.next() {
        match w.as_str() {
            "-i" | "-s" | "-si" | "-g" => {}
            "-X" => method = it.next().map(|m| m.parse().unwrap()),
            "-d" => p.body = it.next(),
            "-H" => {
                let h = it.next().unwrap();
                let (name, value) = h.split_once(": ").unwrap();
                p.headers.push((name.to_owned(), value.to_owned()));
            }
            flag if flag.starts_with('-') => panic!("unexpected flag {flag} in {line}"),
            url => p.url = url.to_owned(),
        }
    }
    let inferred = p.body.as_ref().map(|_| Method::POST);
    p.method = method.or(inferred).unwrap_or(Method::GET);
    p
}

pub async fn send_parsed(p: &Parsed) -> Reply {
    let mut req = Request::builder().method(p.method.clone()).uri(&p.url);
    for (name, value) in &p.headers {
        req = req.header(name, value);
    }
    let body = full(p.body.clone().unwrap_or_default());
    let (status, headers, body) = send(req.body(body).unwrap()).await;
    let body = String::from_utf8_lossy(&body).into_owned();
    Reply {
        status,
        headers,
        body,
    }
}
