//! STUB
use super::{Config, ConfigErrors};
pub fn parse_str(_t: &str, _f: &str) -> Result<Config, ConfigErrors> { Err(ConfigErrors(vec![])) }
pub fn load_file(_p: &std::path::Path) -> Result<Config, ConfigErrors> { Err(ConfigErrors(vec![])) }
