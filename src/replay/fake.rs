//! Generated data for `${fake...}` placeholders: values from the `fake` crate in the run's
//! locale, drawn for each user and iteration from the run's seed (`--seed` makes them
//! reproducible), `.unique` ones marked with the plan-wide user number so that no other user
//! of the run, on any worker, gets the same value.

use super::Vars;
use crate::flow::{FakeKind, FakeRef, Flow};
use fake::faker::address::raw::{CityName, StreetName, ZipCode};
use fake::faker::company::raw::CompanyName;
use fake::faker::internet::raw::SafeEmail;
use fake::faker::lorem::raw::{Sentence, Word};
use fake::faker::name::raw::{FirstName, LastName, Name};
use fake::faker::phone_number::raw::PhoneNumber;
use fake::locales::{DE_DE, EN, FR_FR, IT_IT, JA_JP, PT_BR, ZH_CN};
use fake::Fake;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The language and country generated values look like (`--locale`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Locale {
    #[default]
    En,
    De,
    Fr,
    Ja,
    It,
    PtBr,
    ZhCn,
}

impl Locale {
    /// The names `--locale` takes.
    pub const NAMES: &'static str = "en, de, fr, ja, it, pt-br, zh-cn";

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "en" | "en-us" | "en-gb" => Locale::En,
            "de" | "de-de" => Locale::De,
            "fr" | "fr-fr" => Locale::Fr,
            "ja" | "ja-jp" => Locale::Ja,
            "it" | "it-it" => Locale::It,
            "pt-br" | "pt" => Locale::PtBr,
            "zh-cn" | "zh" => Locale::ZhCn,
            _ => return None,
        })
    }
}

/// A run's generated-data settings, the same on every worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeOptions {
    pub locale: Locale,
    /// Every value is drawn from this seed, the user's plan-wide number and its iteration.
    pub seed: u64,
}

impl Default for FakeOptions {
    /// English, a seed of this run's own.
    fn default() -> Self {
        FakeOptions {
            locale: Locale::En,
            seed: rand::random(),
        }
    }
}

/// Who draws values: a user's plan-wide number and its iteration (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drawer {
    pub user: u64,
    pub iteration: u64,
}

/// The `${fake...}` names a flow uses, found once when it is prepared.
#[derive(Debug, Clone, Default)]
pub struct FakeNames(Vec<(String, FakeRef)>);

impl FakeNames {
    /// Every `${fake...}` the flow uses anywhere (steps, requests, variables), in order.
    /// Bad ones were refused when the flow was loaded; any left are skipped.
    pub fn of(flow: &Flow) -> Self {
        let text = serde_json::to_string(flow).unwrap_or_default();
        let mut names: Vec<(String, FakeRef)> = Vec::new();
        for name in crate::flow::variables_used(&text) {
            if names.iter().any(|(n, _)| n == name) {
                continue;
            }
            if let Some(Ok(r)) = FakeRef::parse(name) {
                names.push((name.to_string(), r));
            }
        }
        FakeNames(names)
    }

    /// Sets this iteration's value of every name: the same name gives the same value within
    /// an iteration (an e-mail typed twice), a new one in the next.
    pub fn draw(&self, options: &FakeOptions, who: Drawer, vars: &mut Vars) {
        for (i, (name, r)) in self.0.iter().enumerate() {
            let seed = mix(mix(mix(options.seed, who.user), who.iteration), i as u64);
            let mut rng = StdRng::seed_from_u64(seed);
            let tag = r.unique.then(|| unique_tag(who));
            vars.set(
                name,
                value(r.kind, options.locale, &mut rng, tag.as_deref(), who),
            );
        }
    }
}

/// What marks a unique value: the user's plan-wide number, and its iteration after the first.
fn unique_tag(who: Drawer) -> String {
    match who.iteration {
        0 => who.user.to_string(),
        i => format!("{}.{i}", who.user),
    }
}

/// splitmix64 of `a` and `b`: seeds far apart for neighbouring users.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A faker of the `fake` crate in the run's locale.
macro_rules! localized {
    ($locale:expr, $rng:expr, $faker:ident $(, $arg:expr)*) => {
        match $locale {
            Locale::En => $faker(EN $(, $arg)*).fake_with_rng::<String, _>($rng),
            Locale::De => $faker(DE_DE $(, $arg)*).fake_with_rng::<String, _>($rng),
            Locale::Fr => $faker(FR_FR $(, $arg)*).fake_with_rng::<String, _>($rng),
            Locale::Ja => $faker(JA_JP $(, $arg)*).fake_with_rng::<String, _>($rng),
            Locale::It => $faker(IT_IT $(, $arg)*).fake_with_rng::<String, _>($rng),
            Locale::PtBr => $faker(PT_BR $(, $arg)*).fake_with_rng::<String, _>($rng),
            Locale::ZhCn => $faker(ZH_CN $(, $arg)*).fake_with_rng::<String, _>($rng),
        }
    };
}

fn value(
    kind: FakeKind,
    locale: Locale,
    rng: &mut StdRng,
    tag: Option<&str>,
    who: Drawer,
) -> String {
    let plain = match kind {
        FakeKind::Name => localized!(locale, rng, Name),
        FakeKind::FirstName => localized!(locale, rng, FirstName),
        FakeKind::LastName => localized!(locale, rng, LastName),
        FakeKind::Email => {
            let email = localized!(locale, rng, SafeEmail);
            return match (tag, email.split_once('@')) {
                (Some(t), Some((local, domain))) => format!("{local}.{t}@{domain}"),
                _ => email,
            };
        }
        FakeKind::Phone => localized!(locale, rng, PhoneNumber),
        FakeKind::Street => {
            let street = localized!(locale, rng, StreetName);
            let number = rng.random_range(1..200u32);
            match locale {
                Locale::De | Locale::It | Locale::PtBr => format!("{street} {number}"),
                _ => format!("{number} {street}"),
            }
        }
        FakeKind::City => localized!(locale, rng, CityName),
        FakeKind::Zip => localized!(locale, rng, ZipCode),
        FakeKind::Company => localized!(locale, rng, CompanyName),
        FakeKind::Sentence => localized!(locale, rng, Sentence, 4..10),
        FakeKind::Word => localized!(locale, rng, Word),
        FakeKind::Uuid => return uuid(rng, tag.map(|_| who)),
        FakeKind::Int(lo, hi) => return rng.random_range(lo..=hi).to_string(),
        FakeKind::Date => return date(rng),
    };
    match (tag, kind) {
        (Some(t), FakeKind::Word) => format!("{plain}{t}"),
        (Some(t), FakeKind::Zip | FakeKind::Phone) => format!("{plain}-{t}"),
        (Some(t), _) => format!("{plain} {t}"),
        (None, _) => plain,
    }
}

/// A version-4 UUID; a unique one carries the user's number and iteration in its last 48
/// bits (so it cannot repeat, whatever the random part).
fn uuid(rng: &mut StdRng, unique: Option<Drawer>) -> String {
    let mut b: [u8; 16] = rng.random();
    if let Some(who) = unique {
        let mark = (who.user << 16 | (who.iteration & 0xffff)) & 0xffff_ffff_ffff;
        b[10..].copy_from_slice(&mark.to_be_bytes()[2..]);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A date `YYYY-MM-DD` from 1950 through 2009 (a date of birth for a sign-up form).
fn date(rng: &mut StdRng) -> String {
    // Days since 1970-01-01: 1950-01-01 is -7305, 2009-12-31 is 14609.
    let days: i64 = rng.random_range(-7305..=14609);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow_using(text: &str) -> Flow {
        serde_json::from_value(serde_json::json!({
            "title": "t",
            "steps": [{"type": "change", "selectors": [["#x"]], "value": text}]
        }))
        .unwrap()
    }

    fn drawn(names: &FakeNames, options: &FakeOptions, user: u64, iteration: u64) -> Vars {
        let mut vars = Vars::new();
        names.draw(options, Drawer { user, iteration }, &mut vars);
        vars
    }

    #[test]
    fn every_kind_has_a_value_of_its_shape() {
        let names = FakeNames::of(&flow_using(
            "${fake.name} ${fake.email} ${fake.phone} ${fake.street} ${fake.city} ${fake.company} \
             ${fake.sentence} ${fake.uuid} ${fake.int(1,100)} ${fake.date} ${fake.zip} ${fake.word}",
        ));
        assert_eq!(names.0.len(), 12);
        let options = FakeOptions {
            locale: Locale::En,
            seed: 7,
        };
        for user in 0..50 {
            let v = drawn(&names, &options, user, 0);
            for (name, _) in &names.0 {
                assert!(!v.get(name).unwrap().is_empty(), "{name}");
            }
            assert!(v.get("fake.email").unwrap().contains('@'));
            let n: i64 = v.get("fake.int(1,100)").unwrap().parse().unwrap();
            assert!((1..=100).contains(&n));
            let uuid = v.get("fake.uuid").unwrap();
            assert_eq!((uuid.len(), &uuid[14..15]), (36, "4"));
            let date = v.get("fake.date").unwrap();
            let year: i32 = date[..4].parse().unwrap();
            assert!((1950..=2009).contains(&year), "{date}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_values_and_another_seed_others() {
        let names = FakeNames::of(&flow_using("${fake.name}/${fake.email}"));
        let a = FakeOptions {
            locale: Locale::En,
            seed: 1,
        };
        let b = FakeOptions {
            locale: Locale::En,
            seed: 2,
        };
        let pick = |o: &FakeOptions, u| drawn(&names, o, u, 0).get("fake.email").map(String::from);
        assert_eq!(pick(&a, 3), pick(&a, 3));
        assert_ne!(pick(&a, 3), pick(&b, 3));
        assert_ne!(pick(&a, 3), pick(&a, 4));
        assert_ne!(
            drawn(&names, &a, 3, 0).get("fake.name").map(String::from),
            drawn(&names, &a, 3, 1).get("fake.name").map(String::from),
            "a new iteration, a new value"
        );
    }

    #[test]
    fn unique_values_never_repeat_over_users_and_iterations() {
        let names = FakeNames::of(&flow_using(
            "${fake.email.unique} ${fake.name.unique} ${fake.uuid.unique} ${fake.word.unique}",
        ));
        // A tiny seed space would repeat plain values; the mark keeps them apart.
        let options = FakeOptions {
            locale: Locale::De,
            seed: 0,
        };
        for (name, _) in &names.0 {
            let mut seen = std::collections::HashSet::new();
            for user in 0..300 {
                for iteration in 0..3 {
                    let v = drawn(&names, &options, user, iteration);
                    assert!(
                        seen.insert(v.get(name).unwrap().to_string()),
                        "{name} repeated"
                    );
                }
            }
        }
    }

    #[test]
    fn locales_change_the_values() {
        let names = FakeNames::of(&flow_using("${fake.city}"));
        let city = |locale| {
            let options = FakeOptions { locale, seed: 11 };
            (0..20)
                .map(|u| {
                    drawn(&names, &options, u, 0)
                        .get("fake.city")
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>()
        };
        let ja = city(Locale::Ja);
        assert!(
            ja.iter().any(|c| !c.is_ascii()),
            "Japanese city names: {ja:?}"
        );
        assert_ne!(city(Locale::De), city(Locale::Fr));
        assert_eq!(Locale::parse("pt_BR"), Some(Locale::PtBr));
        assert_eq!(Locale::parse("xx"), None);
    }

    #[test]
    fn civil_dates_are_right_at_the_edges() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-7305), (1950, 1, 1));
        assert_eq!(civil_from_days(14609), (2009, 12, 31));
        assert_eq!(civil_from_days(11016), (2000, 2, 29));
    }
}
