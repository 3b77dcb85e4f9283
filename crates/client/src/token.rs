//! The secret a caller shows the hub. It is a type of its own so that no
//! `Debug`, `Display` or log line can print it by accident: the one place
//! that sends it calls [`Token::expose`].

use std::fmt;

/// A secret token. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token, trimming the whitespace a paste brings along.
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into().trim().to_owned())
    }

    /// The token itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_print() {
        let token = Token::new("  gantry_admin_secret\n");
        assert_eq!(token.expose(), "gantry_admin_secret");
        assert_eq!(format!("{token:?} {token}"), "Token(***) ***");
    }
}
