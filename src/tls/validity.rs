//! A certificate's `notAfter` (RFC 5280 §4.1.2.5), read from its DER with the small DER
//! reader of `subject`, for the certificate expiry metric. webpki checks validity but does
//! not expose it; a 40-line reader over the fixed TBSCertificate layout is less than the
//! `x509-parser` tree (nom, der-parser, asn1-rs, oid-registry, time: 6 crates) for one field.

use super::subject::tlv;

/// A certificate time in UTC, as written (the caller turns it into a `SystemTime` with
/// `base::civil`: this floor imports nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertTime {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    /// Seconds since midnight.
    pub seconds: u32,
}

/// The end of the certificate's validity, or `None` when the DER is not a certificate.
pub fn not_after(cert_der: &[u8]) -> Option<CertTime> {
    validity(cert_der).map(|(_, after)| after)
}

/// The certificate's validity: (notBefore, notAfter).
pub fn validity(cert_der: &[u8]) -> Option<(CertTime, CertTime)> {
    let (tag, cert, _) = tlv(cert_der)?;
    let (tag2, tbs, _) = tlv(cert)?;
    if tag != 0x30 || tag2 != 0x30 {
        return None;
    }
    let mut rest = tbs;
    // [0] EXPLICIT version, when present.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    // serialNumber, signature, issuer, then validity.
    for _ in 0..3 {
        rest = tlv(rest)?.2;
    }
    let (tag, validity, _) = tlv(rest)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, before, after) = tlv(validity)?;
    let before = parse_time(tag, before)?;
    let (tag, time, _) = tlv(after)?;
    Some((before, parse_time(tag, time)?))
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 50-99 are 19xx) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn parse_time(tag: u8, t: &[u8]) -> Option<CertTime> {
    let digits = |s: &[u8]| -> Option<u32> {
        s.iter().try_fold(0u32, |a, &b| {
            b.is_ascii_digit().then(|| a * 10 + u32::from(b - b'0'))
        })
    };
    let (year, rest) = match (tag, t.len()) {
        (0x17, 13) => {
            let yy = digits(&t[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &t[2..])
        }
        (0x18, 15) => (digits(&t[..4])?, &t[4..]),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let (mo, d, h, mi, s) = (
        digits(&rest[0..2])?,
        digits(&rest[2..4])?,
        digits(&rest[4..6])?,
        digits(&rest[6..8])?,
        digits(&rest[8..10])?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(CertTime {
        year,
        month: mo,
        day: d,
        seconds: h * 3600 + mi * 60 + s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_end_of_validity_of_a_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["a.test".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 5, 17);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let t = not_after(cert.der()).unwrap();
        assert_eq!((t.year, t.month, t.day, t.seconds), (2031, 5, 17, 0));
        params.not_before = rcgen::date_time_ymd(2030, 2, 3);
        let cert = params.self_signed(&key).unwrap();
        let (b, a) = validity(cert.der()).unwrap();
        assert_eq!((b.year, b.month, b.day, a.year), (2030, 2, 3, 2031));
        // GeneralizedTime after 2049.
        params.not_after = rcgen::date_time_ymd(2051, 1, 2);
        let cert = params.self_signed(&key).unwrap();
        let t = not_after(cert.der()).unwrap();
        assert_eq!((t.year, t.month, t.day), (2051, 1, 2));
    }

    #[test]
    fn refuses_what_is_not_a_certificate() {
        assert_eq!(not_after(b""), None);
        assert_eq!(not_after(&[0x30, 0x03, 0x02, 0x01, 0x00]), None);
        assert_eq!(parse_time(0x17, b"991332000000Z"), None);
        assert_eq!(parse_time(0x17, b"2501010000Z"), None);
    }
}
