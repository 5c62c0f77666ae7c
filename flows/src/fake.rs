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
    /// Parses `name` when it starts with `fake.`: None for any other name, Err for a `fake.`
    /// name that is not one of the kinds (the message says which are).
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
                    .ok_or_else(|| format!("`fake.{rest}`: unclosed `(`"))?;
                (w, Some(a))
            }
            None => (body, None),
        };
        let kind = match (word, args) {
            ("int", Some(a)) => {
                let bad = || format!("`fake.{rest}`: expected int(MIN,MAX) with whole numbers");
                let (lo, hi) = a.split_once(',').ok_or_else(bad)?;
                let lo: i64 = lo.trim().parse().map_err(|_| bad())?;
                let hi: i64 = hi.trim().parse().map_err(|_| bad())?;
                if lo > hi {
                    return Err(format!("`fake.{rest}`: MIN is above MAX"));
                }
                FakeKind::Int(lo, hi)
            }
            ("int", None) => return Err(format!("`fake.{rest}`: give a range, e.g. int(1,100)")),
            (_, Some(_)) => return Err(format!("`fake.{rest}`: only int takes arguments")),
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
                    "`fake.{other}` is not a kind of generated data (kinds: {FAKE_KINDS})"
                ))
            }
        };
        if unique && matches!(kind, FakeKind::Int(..) | FakeKind::Date) {
            return Err(format!(
                "`fake.{rest}`: .unique is for text values (a number or date range runs out)"
            ));
        }
        Ok(FakeRef { kind, unique })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(p("fake.email.unique").unique, true);
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
