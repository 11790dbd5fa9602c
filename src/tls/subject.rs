//! A certificate subject as an RFC 4514 string (`CN=client,O=Example,C=DE`), for the
//! `X-Client-Cert-Subject` header: last RDN first, the usual short names (CN, L, ST, O, OU,
//! C, STREET, DC, UID), other attributes as `1.2.3.4=#hex`. Every byte outside printable
//! ASCII is escaped as `\XX` (RFC 4514 allows it), so the result is always a valid header
//! value. A small DER reader over the subject bytes; anything malformed gives `None`.

use std::fmt::Write;

/// Formats the DER contents of a `Name` (the bytes inside its outer SEQUENCE, as
/// `webpki::EndEntityCert::subject` returns them).
pub fn format_subject(name: &[u8]) -> Option<String> {
    let mut rdns = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let (tag, set, after) = tlv(rest)?;
        if tag != 0x31 {
            return None;
        }
        rest = after;
        let mut parts = Vec::new();
        let mut atvs = set;
        while !atvs.is_empty() {
            let (tag, atv, after) = tlv(atvs)?;
            if tag != 0x30 {
                return None;
            }
            atvs = after;
            let (tag, oid, value) = tlv(atv)?;
            if tag != 0x06 {
                return None;
            }
            parts.push(attribute(oid, value)?);
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// `TYPE=value` for one AttributeTypeAndValue; `value` is the whole value TLV.
fn attribute(oid: &[u8], value: &[u8]) -> Option<String> {
    const DC: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19];
    const UID: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01];
    let short = match oid {
        [0x55, 0x04, 0x03] => Some("CN"),
        [0x55, 0x04, 0x06] => Some("C"),
        [0x55, 0x04, 0x07] => Some("L"),
        [0x55, 0x04, 0x08] => Some("ST"),
        [0x55, 0x04, 0x09] => Some("STREET"),
        [0x55, 0x04, 0x0a] => Some("O"),
        [0x55, 0x04, 0x0b] => Some("OU"),
        DC => Some("DC"),
        UID => Some("UID"),
        _ => None,
    };
    let (tag, content, _) = tlv(value)?;
    let text = match short.and_then(|_| string_value(tag, content)) {
        Some(text) => escape(&text),
        None => {
            let mut hex = String::from("#");
            for b in value {
                let _ = write!(hex, "{b:02x}");
            }
            hex
        }
    };
    let name = match short {
        Some(s) => s.to_owned(),
        None => dotted(oid)?,
    };
    Some(format!("{name}={text}"))
}

/// The text of a directory string; `None` for other types.
fn string_value(tag: u8, content: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String
        0x0c | 0x13 | 0x16 => String::from_utf8(content.to_vec()).ok(),
        // TeletexString: taken as Latin-1
        0x14 => Some(content.iter().map(|&b| b as char).collect()),
        // BMPString: UTF-16 big-endian
        0x1e if content.len().is_multiple_of(2) => {
            let units = content.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
}

/// RFC 4514 escaping, plus `\XX` for every byte outside printable ASCII.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let last = s.len().saturating_sub(1);
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let special = matches!(b, b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\')
            || (i == 0 && (b == b'#' || b == b' '))
            || (i == last && b == b' ');
        if special {
            out.push('\\');
            out.push(b as char);
        } else if (0x20..0x7f).contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "\\{b:02X}");
        }
    }
    out
}

/// An OID in dotted decimal.
fn dotted(oid: &[u8]) -> Option<String> {
    let mut arcs = Vec::new();
    let mut arc: u64 = 0;
    for &b in oid {
        arc = arc.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(arc);
            arc = 0;
        }
    }
    let (&first, rest) = arcs.split_first()?;
    let top = (first / 40).min(2);
    let mut out = format!("{top}.{}", first - 40 * top);
    for a in rest {
        let _ = write!(out, ".{a}");
    }
    Some(out)
}

/// One DER TLV: its tag, its contents and what follows it.
pub(super) fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81..=0x83 => {
            let n = usize::from(first & 0x7f);
            if rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |a, &b| (a << 8) | usize::from(b));
            (len, &rest[n..])
        }
        _ => return None,
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject_of(params: rcgen::CertificateParams) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let ee = webpki::EndEntityCert::try_from(cert.der()).unwrap();
        format_subject(ee.subject()).unwrap()
    }

    #[test]
    fn formats_the_subject_last_rdn_first_with_escapes() {
        let mut p = rcgen::CertificateParams::new(vec!["c.test".to_owned()]).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CountryName, "DE");
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme, Inc.");
        p.distinguished_name
            .push(rcgen::DnType::CommonName, " client+1 ");
        assert_eq!(subject_of(p), r"CN=\ client\+1\ ,O=Acme\, Inc.,C=DE");
    }

    #[test]
    fn non_ascii_and_unknown_attributes_stay_header_safe() {
        let mut p = rcgen::CertificateParams::new(vec!["c.test".to_owned()]).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Jürgen");
        p.distinguished_name.push(
            rcgen::DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            rcgen::DnValue::Ia5String("a@b.test".try_into().unwrap()),
        );
        let s = subject_of(p);
        assert_eq!(
            s,
            r"1.2.840.113549.1.9.1=#16086140622e74657374,CN=J\C3\BCrgen"
        );
        assert!(http::HeaderValue::from_str(&s).is_ok());
    }

    #[test]
    fn malformed_der_is_refused() {
        assert_eq!(format_subject(&[0x31, 0x05, 0x30]), None);
        assert_eq!(format_subject(&[0x30, 0x00]), None);
        assert_eq!(format_subject(&[]), Some(String::new()));
    }
}
