//! [`ConfigError`]: a provider configuration that could not be read.

use std::fmt;

use auth_core::AuthError;

/// A provider configuration (file, text or environment) that could not be
/// read.
///
/// The message names the setting at fault (`field `password``, or the
/// environment variable `AUTH_CTC_PASSWORD`) and, for files, the line and
/// column. It never contains the value of a secret, nor a quoted line of
/// the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
    line: Option<usize>,
    column: Option<usize>,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            line: None,
            column: None,
        }
    }

    pub(crate) fn at(mut self, line: usize, column: usize) -> Self {
        if line > 0 {
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The 1-based line of a configuration text the error is about, when
    /// known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The 1-based column, when known.
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// From a `serde_json` error, dropping its position suffix from the
    /// message and keeping the position apart.
    pub(crate) fn from_json(err: &serde_json::Error) -> Self {
        let text = err.to_string();
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
        ConfigError::new(message).at(err.line(), err.column())
    }

    /// From a `toml` error: its message and span only (its `Display` quotes
    /// the offending line of the file, which may hold a secret).
    #[cfg(feature = "toml")]
    pub(crate) fn from_toml(err: &toml::de::Error, source: &str) -> Self {
        let message = err.message().trim().to_owned();
        match err.span() {
            Some(span) => {
                let (line, column) = line_column(source, span.start);
                ConfigError::new(message).at(line, column)
            }
            None => ConfigError::new(message),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
#[cfg(feature = "toml")]
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid provider configuration: {}", self.message)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, " (line {line}, column {column})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for AuthError {
    fn from(err: ConfigError) -> Self {
        AuthError::Config(err.to_string())
    }
}

#[cfg(all(test, feature = "toml"))]
mod tests {
    use super::line_column;

    #[test]
    fn line_column_counts_from_one() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 6), (2, 1));
        // after "bé " (é is two bytes)
        assert_eq!(line_column(src, 10), (2, 4));
        assert_eq!(line_column(src, 999), (3, 1));
    }
}
