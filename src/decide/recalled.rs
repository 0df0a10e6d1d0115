//! What the decisions part recalled for a request, as the decision reads it: the
//! strongest decision in force that matched (see `crate::decisions`). Plain values,
//! here so that the pure decision depends on no store.

/// What a decision does to a matching request; ordered by strength (`allow` beats
/// every other match, then `block`, `shadow`, `verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Action {
    Verify = 0,
    Shadow = 1,
    Block = 2,
    Allow = 3,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::Block, Action::Verify, Action::Shadow, Action::Allow];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Verify => "verify",
            Action::Shadow => "shadow",
            Action::Allow => "allow",
        }
    }

    pub fn from_name(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// What a matched decision says: enough to decide and to name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub id: u64,
    pub expires_ms: i64,
    pub action: Action,
}

impl Hit {
    /// The stronger of two: `allow` beats all, then `block`, `shadow`, `verify`; the
    /// one that lasts longer between equals.
    pub fn beats(&self, other: &Hit) -> bool {
        (self.action, self.expires_ms) > (other.action, other.expires_ms)
    }
}
