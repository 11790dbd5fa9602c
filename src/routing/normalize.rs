//! STUB (replaced by the routing module).
use std::borrow::Cow;
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NormalizeOptions { pub merge_slashes: bool, pub reject_encoded_slash: bool }
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError { NotAbsolute }
impl std::fmt::Display for PathError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "bad path") } }
pub fn normalize_path<'a>(path: &'a str, _o: &NormalizeOptions) -> Result<Cow<'a, str>, PathError> {
    if !path.starts_with('/') { return Err(PathError::NotAbsolute); }
    Ok(Cow::Borrowed(path))
}
