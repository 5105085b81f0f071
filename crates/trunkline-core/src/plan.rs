//! Number plans: `e164` built in, private plans declared in config.

use std::fmt;

use thiserror::Error;

/// The longest digit string any plan may declare: E.164's 15 and one more,
/// so a digit string packs into 64 bits (see [`crate::key::Key`]).
pub const MAX_DIGITS: usize = 16;

/// Maximum number of digits of an E.164 number (ITU-T E.164 section 6).
pub const E164_MAX_DIGITS: u8 = 15;

/// Index of a plan in its [`Plans`] registry. `PlanId::E164` is always 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlanId(pub u8);

impl PlanId {
    pub const E164: PlanId = PlanId(0);
}

/// A declared number plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub name: String,
    pub max_digits: u8,
}

/// Errors in declaring a private plan.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PlanError {
    #[error("plan name {0:?} must be 1-16 characters of a-z, 0-9 and '-', starting with a letter")]
    BadName(String),
    #[error("plan name {0:?} is reserved")]
    Reserved(String),
    #[error("plan {0:?} is declared twice")]
    Duplicate(String),
    #[error("plan {name:?}: max_digits must be 1..={max}, not {got}")]
    BadLength { name: String, got: u32, max: usize },
    #[error("at most 255 plans may be declared")]
    TooMany,
}

/// The registry of plans a node knows: `e164` plus those from config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plans {
    plans: Vec<Plan>,
}

impl Default for Plans {
    fn default() -> Self {
        Plans {
            plans: vec![Plan {
                name: "e164".to_owned(),
                max_digits: E164_MAX_DIGITS,
            }],
        }
    }
}

impl Plans {
    /// `e164` plus the given private plans, in order.
    pub fn with_private<'a>(
        private: impl IntoIterator<Item = (&'a str, u32)>,
    ) -> Result<Plans, PlanError> {
        let mut plans = Plans::default();
        for (name, max) in private {
            plans.add(name, max)?;
        }
        Ok(plans)
    }

    fn add(&mut self, name: &str, max_digits: u32) -> Result<(), PlanError> {
        let valid = !name.is_empty()
            && name.len() <= 16
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(PlanError::BadName(name.to_owned()));
        }
        if name == "e164" {
            return Err(PlanError::Reserved(name.to_owned()));
        }
        if self.plans.iter().any(|p| p.name == name) {
            return Err(PlanError::Duplicate(name.to_owned()));
        }
        if max_digits == 0 || max_digits as usize > MAX_DIGITS {
            return Err(PlanError::BadLength {
                name: name.to_owned(),
                got: max_digits,
                max: MAX_DIGITS,
            });
        }
        if self.plans.len() >= 255 {
            return Err(PlanError::TooMany);
        }
        self.plans.push(Plan {
            name: name.to_owned(),
            max_digits: max_digits as u8,
        });
        Ok(())
    }

    pub fn get(&self, id: PlanId) -> Option<&Plan> {
        self.plans.get(id.0 as usize)
    }

    /// The plan's name; `"?"` for an id from another registry.
    pub fn name(&self, id: PlanId) -> &str {
        self.get(id).map_or("?", |p| p.name.as_str())
    }

    pub fn by_name(&self, name: &str) -> Option<PlanId> {
        self.plans
            .iter()
            .position(|p| p.name == name)
            .map(|i| PlanId(i as u8))
    }

    pub fn iter(&self) -> impl Iterator<Item = (PlanId, &Plan)> {
        self.plans
            .iter()
            .enumerate()
            .map(|(i, p)| (PlanId(i as u8), p))
    }

    pub fn len(&self) -> usize {
        self.plans.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (max {} digits)", self.name, self.max_digits)
    }
}
