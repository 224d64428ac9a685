//! Continents: the seven codes MaxMind databases use, their names, and which continent each
//! country is on (for databases whose records carry only a country, such as the `country_code`
//! schema).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Continent {
    Africa,
    Antarctica,
    Asia,
    Europe,
    NorthAmerica,
    Oceania,
    SouthAmerica,
}

/// (continent, code, name, its countries as ISO 3166-1 alpha-2 codes). The country lists follow
/// the GeoNames continent assignment, which MaxMind's `continent.code` also follows (Turkey, the
/// Caucasus and Cyprus as in GeoNames: TR, GE, AM, AZ in Asia; CY, RU in Europe).
const TABLE: [(Continent, &str, &str, &str); 7] = [
    (
        Continent::Africa,
        "AF",
        "Africa",
        "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG \
         ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW",
    ),
    (Continent::Antarctica, "AN", "Antarctica", "AQ BV GS HM TF"),
    (
        Continent::Asia,
        "AS",
        "Asia",
        "AE AF AM AZ BD BH BN BT CC CN CX GE HK ID IL IN IO IQ IR JO JP KG KH KP KR KW KZ LA LB LK \
         MM MN MO MV MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW UZ VN YE",
    ),
    (
        Continent::Europe,
        "EU",
        "Europe",
        "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI \
         LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK",
    ),
    (
        Continent::NorthAmerica,
        "NA",
        "North America",
        "AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS MX NI \
         PA PM PR SV SX TC TT US VC VG VI",
    ),
    (
        Continent::Oceania,
        "OC",
        "Oceania",
        "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV UM VU WF WS",
    ),
    (
        Continent::SouthAmerica,
        "SA",
        "South America",
        "AR BO BR CL CO EC FK GF GY PE PY SR UY VE",
    ),
];

impl Continent {
    /// A continent from its code ("EU") or name ("Europe", "north america"), any case.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        TABLE
            .iter()
            .find(|(_, code, name, _)| {
                text.eq_ignore_ascii_case(code) || text.eq_ignore_ascii_case(name)
            })
            .map(|(continent, ..)| *continent)
    }

    /// The two-letter code MaxMind databases use.
    pub fn code(self) -> &'static str {
        TABLE[self as usize].1
    }

    pub fn name(self) -> &'static str {
        TABLE[self as usize].2
    }

    /// The continent of a country (ISO 3166-1 alpha-2, any case); `None` for codes that are
    /// not countries (such as "EU" or "AP" in some registries' data).
    pub fn of_country(code: &str) -> Option<Self> {
        if code.len() != 2 {
            return None;
        }
        TABLE
            .iter()
            .find(|(.., countries)| {
                countries
                    .split_ascii_whitespace()
                    .any(|c| c.eq_ignore_ascii_case(code))
            })
            .map(|(continent, ..)| *continent)
    }
}

impl fmt::Display for Continent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_enum_order_and_countries_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (i, (continent, ..)) in TABLE.iter().enumerate() {
            assert_eq!(*continent as usize, i);
        }
        for (.., countries) in TABLE {
            for country in countries.split_ascii_whitespace() {
                assert_eq!(country.len(), 2, "{country}");
                assert!(seen.insert(country), "{country} is listed twice");
            }
        }
        assert!(seen.len() > 240, "{} countries", seen.len());
    }

    #[test]
    fn codes_and_names() {
        assert_eq!(Continent::parse("EU"), Some(Continent::Europe));
        assert_eq!(
            Continent::parse("north America"),
            Some(Continent::NorthAmerica)
        );
        assert_eq!(
            Continent::parse("South America"),
            Some(Continent::SouthAmerica)
        );
        assert_eq!(Continent::parse("an"), Some(Continent::Antarctica));
        assert_eq!(Continent::parse("Atlantis"), None);
        assert_eq!(Continent::Oceania.code(), "OC");
        assert_eq!(Continent::Asia.to_string(), "Asia");
    }

    #[test]
    fn countries() {
        assert_eq!(Continent::of_country("de"), Some(Continent::Europe));
        assert_eq!(Continent::of_country("US"), Some(Continent::NorthAmerica));
        assert_eq!(Continent::of_country("JP"), Some(Continent::Asia));
        assert_eq!(Continent::of_country("BR"), Some(Continent::SouthAmerica));
        assert_eq!(Continent::of_country("EU"), None);
        assert_eq!(Continent::of_country("D"), None);
    }
}
