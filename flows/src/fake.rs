//! Generated data in a flow: `${fake.email}`, `${fake.int(1,100)}`, `${fake.name.unique}`: the
//! names a flow may use without declaring them (the runner generates their values).

/// What a `${fake...}` placeholder generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeKind {
    Name,
    FirstName,
    LastName,
    Email,
    Phone,
    Street,
    City,
    Zip,
    Company,
    Sentence,
    Word,
    Uuid,
    /// A whole number from `.0` to `.1`, both included.
    Int(i64, i64),
    /// A date `YYYY-MM-DD`.
    Date,
}

/// A parsed `${fake...}` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FakeRef {
    pub kind: FakeKind,
    /// `.unique`: no other user of the run (nor another iteration) gets the same value.
    pub unique: bool,
}

/// The kinds, as written after `fake.`.
pub const FAKE_KINDS: &str =
    "name, first_name, last_name, email, phone, street, city, zip, company, sentence, word, uuid, int(MIN,MAX), date";

impl FakeRef {
    /// Parses `name` when it starts with `fake.`: None for any other name, Err (why, without
    /// the name) for a `fake.` name that is not one of the kinds (the message says which are).
    pub fn parse(name: &str) -> Option<Result<FakeRef, String>> {
        let rest = name.strip_prefix("fake.")?;
        Some(Self::parse_rest(rest))
    }

    fn parse_rest(rest: &str) -> Result<FakeRef, String> {
        let (body, unique) = match rest.strip_suffix(".unique") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let (word, args) = match body.split_once('(') {
            Some((w, a)) => {
                let a = a
                    .strip_suffix(')')
                    .ok_or_else(|| "unclosed `(`".to_string())?;
                (w, Some(a))
            }
            None => (body, None),
        };
        let kind = match (word, args) {
            ("int", Some(a)) => {
                let bad = || "expected int(MIN,MAX) with whole numbers".to_string();
                let (lo, hi) = a.split_once(',').ok_or_else(bad)?;
                let lo: i64 = lo.trim().parse().map_err(|_| bad())?;
                let hi: i64 = hi.trim().parse().map_err(|_| bad())?;
                if lo > hi {
                    return Err("MIN is above MAX".into());
                }
                FakeKind::Int(lo, hi)
            }
            ("int", None) => return Err("give a range, e.g. fake.int(1,100)".into()),
            (_, Some(_)) => return Err("only int takes arguments".into()),
            ("name", None) => FakeKind::Name,
            ("first_name", None) => FakeKind::FirstName,
            ("last_name", None) => FakeKind::LastName,
            ("email", None) => FakeKind::Email,
            ("phone", None) => FakeKind::Phone,
            ("street", None) => FakeKind::Street,
            ("city", None) => FakeKind::City,
            ("zip", None) => FakeKind::Zip,
            ("company", None) => FakeKind::Company,
            ("sentence", None) => FakeKind::Sentence,
            ("word", None) => FakeKind::Word,
            ("uuid", None) => FakeKind::Uuid,
            ("date", None) => FakeKind::Date,
            (other, None) => {
                return Err(format!(
                    "`{other}` is not a kind of generated data (kinds: {FAKE_KINDS})"
                ))
            }
        };
        if unique && matches!(kind, FakeKind::Int(..) | FakeKind::Date) {
            return Err(".unique is for text values (a number or date range runs out)".into());
        }
        Ok(FakeRef { kind, unique })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_kind_is_a_located_load_error() {
        let text = r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/?e=${fake.emali}"}]}"#;
        let e = crate::parse(text, "f.json").unwrap_err().to_string();
        assert!(e.starts_with("f.json:1:"), "{e}");
        assert!(
            e.contains("uses `${fake.emali}`: `emali` is not a kind"),
            "{e}"
        );
        let ok = r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://h/?e=${fake.email.unique}"}]}"#;
        crate::parse(ok, "f.json").unwrap();
    }

    #[test]
    fn parses_kinds_ranges_and_unique() {
        let p = |n: &str| FakeRef::parse(n).unwrap().unwrap();
        assert_eq!(
            p("fake.email"),
            FakeRef {
                kind: FakeKind::Email,
                unique: false
            }
        );
        assert!(p("fake.email.unique").unique);
        assert_eq!(p("fake.int(1,100)").kind, FakeKind::Int(1, 100));
        assert_eq!(p("fake.int(-5, 5)").kind, FakeKind::Int(-5, 5));
        assert_eq!(FakeRef::parse("email"), None);
        for (bad, hint) in [
            ("fake.emali", "not a kind"),
            ("fake.int", "give a range"),
            ("fake.int(5,1)", "MIN is above MAX"),
            ("fake.int(a,b)", "whole numbers"),
            ("fake.name(3)", "only int"),
            ("fake.date.unique", ".unique is for text"),
        ] {
            let e = FakeRef::parse(bad).unwrap().unwrap_err();
            assert!(e.contains(hint), "{bad}: {e}");
        }
    }
}
