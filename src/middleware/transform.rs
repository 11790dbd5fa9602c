//! Request and response header transforms, applied in a fixed order: rename (every value moved
//! and appended to the new name's values), remove, set (replacing all values), add (appended).

use http::HeaderMap;

use crate::config::policy::HeaderOps;

/// Applies `ops` to `headers`: renames, then removals, then sets, then adds.
pub fn apply(ops: &HeaderOps, headers: &mut HeaderMap) {
    for (from, to) in &ops.rename {
        if from == to {
            continue;
        }
        if let http::header::Entry::Occupied(e) = headers.entry(from) {
            let (_, values) = e.remove_entry_mult();
            let values: Vec<_> = values.collect();
            for v in values {
                headers.append(to, v);
            }
        }
    }
    for name in &ops.remove {
        headers.remove(name);
    }
    for (name, value) in &ops.set {
        headers.insert(name, value.clone());
    }
    for (name, value) in &ops.add {
        headers.append(name, value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};

    fn n(s: &'static str) -> HeaderName {
        HeaderName::from_static(s)
    }

    fn v(s: &'static str) -> HeaderValue {
        HeaderValue::from_static(s)
    }

    fn all(h: &HeaderMap, name: &str) -> Vec<String> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn rename_moves_every_value_and_appends() {
        let mut h = HeaderMap::new();
        h.append("x-old", v("1"));
        h.append("x-old", v("2"));
        h.append("x-new", v("0"));
        let ops = HeaderOps {
            rename: vec![(n("x-old"), n("x-new")), (n("x-absent"), n("x-other"))],
            ..HeaderOps::default()
        };
        apply(&ops, &mut h);
        assert!(!h.contains_key("x-old"));
        assert!(!h.contains_key("x-other"));
        assert_eq!(all(&h, "x-new"), ["0", "1", "2"]);
    }

    #[test]
    fn rename_to_itself_keeps_the_values() {
        let mut h = HeaderMap::new();
        h.append("x-a", v("1"));
        h.append("x-a", v("2"));
        let ops = HeaderOps {
            rename: vec![(n("x-a"), n("x-a"))],
            ..HeaderOps::default()
        };
        apply(&ops, &mut h);
        assert_eq!(all(&h, "x-a"), ["1", "2"]);
    }

    #[test]
    fn remove_set_and_add() {
        let mut h = HeaderMap::new();
        h.append("x-gone", v("1"));
        h.append("x-gone", v("2"));
        h.append("x-set", v("old1"));
        h.append("x-set", v("old2"));
        h.append("x-add", v("a"));
        h.append("x-keep", v("k"));
        let ops = HeaderOps {
            rename: vec![],
            remove: vec![n("x-gone"), n("x-never-there")],
            set: vec![(n("x-set"), v("new")), (n("x-fresh"), v("f"))],
            add: vec![(n("x-add"), v("b")), (n("x-add"), v("c"))],
        };
        apply(&ops, &mut h);
        assert!(!h.contains_key("x-gone"));
        assert_eq!(all(&h, "x-set"), ["new"]);
        assert_eq!(all(&h, "x-fresh"), ["f"]);
        assert_eq!(all(&h, "x-add"), ["a", "b", "c"]);
        assert_eq!(all(&h, "x-keep"), ["k"]);
    }

    #[test]
    fn operations_run_in_order() {
        // rename feeds remove/set/add: a renamed header can be removed, then set, then added to.
        let mut h = HeaderMap::new();
        h.append("x-src", v("moved"));
        h.append("x-dst", v("orig"));
        let ops = HeaderOps {
            rename: vec![(n("x-src"), n("x-dst")), (n("x-src2"), n("x-dst2"))],
            remove: vec![n("x-dst")],
            set: vec![(n("x-dst"), v("set"))],
            add: vec![(n("x-dst"), v("added"))],
        };
        apply(&ops, &mut h);
        assert_eq!(all(&h, "x-dst"), ["set", "added"]);
        assert!(!h.contains_key("x-src"));

        // set after rename replaces the moved values; add after set appends.
        let mut h = HeaderMap::new();
        h.append("x-a", v("1"));
        let ops = HeaderOps {
            rename: vec![(n("x-a"), n("x-b"))],
            set: vec![(n("x-b"), v("2"))],
            add: vec![(n("x-a"), v("3"))],
            ..HeaderOps::default()
        };
        apply(&ops, &mut h);
        assert_eq!(all(&h, "x-b"), ["2"]);
        assert_eq!(all(&h, "x-a"), ["3"]);
    }

    #[test]
    fn empty_ops_change_nothing() {
        let mut h = HeaderMap::new();
        h.append("x-a", v("1"));
        let before = h.clone();
        apply(&HeaderOps::default(), &mut h);
        assert_eq!(h, before);
    }
}
