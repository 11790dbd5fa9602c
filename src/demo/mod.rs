//! STUB
use std::net::SocketAddr;
pub enum DemoPorts { Fixed, Ephemeral }
pub struct DemoService { pub name: &'static str, pub addr: SocketAddr }
pub struct DemoBackends { pub services: Vec<DemoService> }
pub async fn start_backends(_p: DemoPorts) -> std::io::Result<DemoBackends> { Ok(DemoBackends { services: vec![] }) }
pub fn demo_config(_b: &DemoBackends, _l: SocketAddr) -> crate::config::Config { unimplemented!() }
pub fn curl_examples(_l: SocketAddr) -> String { String::new() }
