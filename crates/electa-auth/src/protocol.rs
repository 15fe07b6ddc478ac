//! Electa replies: a lenient reader for the XML documents, a reader for the
//! CSV form of the token reply (`Result=csv`, [`parse_login_reply`]), and a
//! detector for the HTML bodies that sometimes come instead.
//!
//! The documented facts are an integer response code (0 = success) and a
//! `ResponseData` element with the token or the error text. Element names
//! beyond `ResponseData` are not confirmed, so the reader accepts any root
//! element and takes the code from the first element (or root attribute)
//! whose name ends in `code` (`ResponseCode`, `Code`, `ReturnCode`,
//! `ErrorCode` ...), all names compared case-insensitively.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use auth_core::http::looks_like_html;

/// Path of the authentication namespace, relative to the API URL.
pub const TOKEN_PATH: &str = "token/";
/// Name of the account id parameter.
pub const CID_PARAM: &str = "CID";
/// Name of the application key parameter.
pub const APP_KEY_PARAM: &str = "AppKey";
/// Name of the reply format parameter (API 2.1: `xml` or `csv`, XML by
/// default).
pub const RESULT_PARAM: &str = "Result";
/// The reply format the client asks for.
pub const RESULT_XML: &str = "xml";

/// A parsed Electa reply.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    /// The response code (0 = success).
    pub code: i64,
    /// The text of `ResponseData` (the token, an error text, or the text of
    /// nested data), trimmed.
    pub data: String,
}

impl std::fmt::Debug for Reply {
    // The data may be a token: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("code", &self.code)
            .field(
                "data",
                &format_args!("<{} chars>", self.data.chars().count()),
            )
            .finish()
    }
}

/// Why a body is not an Electa XML reply. The messages never quote the body
/// (it may hold a token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The body is empty.
    #[error("an empty body")]
    Empty,
    /// The body is an HTML page (a proxy or error page).
    #[error("an HTML page (a proxy or gateway error page?)")]
    Html,
    /// The body is CSV or plain text, not XML.
    #[error("a CSV or plain-text reply ({lines} line(s)), not XML; the call must return XML")]
    NotXml {
        /// Number of lines in the body.
        lines: usize,
    },
    /// The body is not well-formed XML.
    #[error("malformed XML ({0})")]
    Malformed(String),
    /// Well-formed XML without a response code.
    #[error("XML without a response code element")]
    MissingCode,
    /// The response code is not an integer.
    #[error("a response code that is not an integer")]
    BadCode,
    /// Well-formed XML without a `ResponseData` element.
    #[error("XML without a ResponseData element")]
    MissingData,
    /// A CSV or plain-text body that is not one `<code>,<data>` row (after
    /// an optional header row).
    #[error("a CSV or plain-text reply ({lines} line(s)) that is not one `<code>,<data>` row")]
    BadCsv {
        /// Number of lines in the body.
        lines: usize,
    },
}

fn lower_name(e: &BytesStart<'_>) -> String {
    let local = e.local_name();
    let name: &str = local.as_ref();
    name.to_ascii_lowercase()
}

fn is_code_name(name: &str) -> bool {
    name.ends_with("code")
}

/// Parses the reply of the token call: XML (see [`parse_reply`]), or the
/// CSV form `<code>,<data>` (`0,<token>`, or a non-zero code and the error
/// text) that public integrations read when `Result=csv`, optionally after
/// a `ResponseCode,ResponseData` header row. A data field in double quotes
/// is unquoted (`""` is a quote).
pub fn parse_login_reply(body: &[u8]) -> Result<Reply, ReplyError> {
    match parse_reply(body) {
        Err(ReplyError::NotXml { .. }) => parse_csv_reply(body),
        other => other,
    }
}

/// Parses the CSV form of a reply (see [`parse_login_reply`]).
pub fn parse_csv_reply(body: &[u8]) -> Result<Reply, ReplyError> {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(ReplyError::Empty);
    }
    let lines = trimmed.lines().count();
    let bad = || ReplyError::BadCsv { lines };
    let mut rows = trimmed.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut row = rows.next().ok_or_else(bad)?;
    let split = |row: &str| -> Option<(i64, String)> {
        let (code, data) = row.split_once(',')?;
        Some((code.trim().parse::<i64>().ok()?, data.trim().to_owned()))
    };
    let parsed = match split(row) {
        Some(parsed) => parsed,
        None => {
            // A header row: its first field is a name, not a code.
            if !row.contains(',') {
                return Err(bad());
            }
            row = rows.next().ok_or_else(bad)?;
            split(row).ok_or_else(bad)?
        }
    };
    if rows.next().is_some() {
        return Err(bad());
    }
    let (code, data) = parsed;
    let data = match data.strip_prefix('"').and_then(|d| d.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => data,
    };
    Ok(Reply {
        code,
        data: data.trim().to_owned(),
    })
}

/// Parses an Electa XML reply leniently (see the module docs).
pub fn parse_reply(body: &[u8]) -> Result<Reply, ReplyError> {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(ReplyError::Empty);
    }
    if looks_like_html(trimmed.as_bytes()) {
        return Err(ReplyError::Html);
    }
    if !trimmed.starts_with('<') {
        return Err(ReplyError::NotXml {
            lines: trimmed.lines().count(),
        });
    }
    let mut reader = Reader::from_str(trimmed);
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    let mut code_text: Option<String> = None;
    let mut data: Option<String> = None;
    // What is being collected: the code element or ResponseData, and at
    // which depth it started.
    let mut in_code: Option<(usize, String)> = None;
    let mut in_data: Option<(usize, String)> = None;
    let mut saw_root = false;
    loop {
        let event = reader.read_event().map_err(|e| malformed(&e))?;
        match event {
            Event::Start(e) => {
                if depth == 0 {
                    if saw_root {
                        return Err(ReplyError::Malformed("more than one root element".into()));
                    }
                    saw_root = true;
                    root_code_attribute(&e, &mut code_text)?;
                }
                depth += 1;
                let name = lower_name(&e);
                if in_data.is_none() && in_code.is_none() && depth >= 2 {
                    if name == "responsedata" && data.is_none() {
                        in_data = Some((depth, String::new()));
                    } else if is_code_name(&name) && code_text.is_none() {
                        in_code = Some((depth, String::new()));
                    }
                }
            }
            Event::Empty(e) => {
                if depth == 0 {
                    if saw_root {
                        return Err(ReplyError::Malformed("more than one root element".into()));
                    }
                    saw_root = true;
                    root_code_attribute(&e, &mut code_text)?;
                    continue;
                }
                let name = lower_name(&e);
                if in_data.is_none() && in_code.is_none() {
                    if name == "responsedata" && data.is_none() {
                        data = Some(String::new());
                    } else if is_code_name(&name) && code_text.is_none() {
                        code_text = Some(String::new());
                    }
                }
            }
            Event::End(_) => {
                if in_data.as_ref().is_some_and(|(d, _)| *d == depth) {
                    data = in_data.take().map(|(_, t)| t);
                }
                if in_code.as_ref().is_some_and(|(d, _)| *d == depth) {
                    code_text = in_code.take().map(|(_, t)| t);
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => {
                let s = t.xml10_content();
                push_text(&mut in_code, &mut in_data, &s);
            }
            Event::CData(t) => {
                let s = t.xml10_content();
                push_text(&mut in_code, &mut in_data, &s);
            }
            Event::GeneralRef(r) => {
                let resolved = if let Some(c) = r.resolve_char_ref().map_err(|e| malformed(&e))? {
                    c.to_string()
                } else {
                    let name = r.xml10_content();
                    quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| ReplyError::Malformed("unknown entity".into()))?
                        .to_owned()
                };
                push_text(&mut in_code, &mut in_data, &resolved);
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if depth != 0 || !saw_root {
        return Err(ReplyError::Malformed("the document is incomplete".into()));
    }
    let code_text = code_text.ok_or(ReplyError::MissingCode)?;
    let code = code_text
        .trim()
        .parse::<i64>()
        .map_err(|_| ReplyError::BadCode)?;
    let data = data.ok_or(ReplyError::MissingData)?;
    Ok(Reply {
        code,
        data: data.trim().to_owned(),
    })
}

fn push_text(
    in_code: &mut Option<(usize, String)>,
    in_data: &mut Option<(usize, String)>,
    s: &str,
) {
    if let Some((_, buf)) = in_data {
        buf.push_str(s);
    } else if let Some((_, buf)) = in_code {
        buf.push_str(s);
    }
}

fn root_code_attribute(e: &BytesStart<'_>, code: &mut Option<String>) -> Result<(), ReplyError> {
    for attr in e.attributes() {
        let attr = attr.map_err(|e| malformed(&e.into()))?;
        let local = attr.key.local_name();
        let name: &str = local.as_ref();
        let name = name.to_ascii_lowercase();
        if is_code_name(&name) && code.is_none() {
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| malformed(&e))?;
            *code = Some(value.into_owned());
        }
    }
    Ok(())
}

/// Describes an XML error without quoting the document: quick-xml's own
/// messages name elements, entities and declarations taken from the body,
/// and the body may hold a token or key (found by the `electa_xml` fuzz
/// target: an element named after the application key ended up in the
/// error text).
fn malformed(e: &quick_xml::Error) -> ReplyError {
    use quick_xml::errors::IllFormedError;
    let what = match e {
        // Fixed texts, no document content.
        quick_xml::Error::Syntax(syntax) => syntax.to_string(),
        quick_xml::Error::IllFormed(IllFormedError::MissingEndTag(_)) => {
            "an element is not closed".to_owned()
        }
        quick_xml::Error::IllFormed(IllFormedError::UnmatchedEndTag(_)) => {
            "an end tag without a start tag".to_owned()
        }
        quick_xml::Error::IllFormed(IllFormedError::MismatchedEndTag { .. }) => {
            "an end tag that does not match its start tag".to_owned()
        }
        quick_xml::Error::IllFormed(IllFormedError::MissingDeclVersion(_)) => {
            "an XML declaration without a version".to_owned()
        }
        quick_xml::Error::IllFormed(_) => "an ill-formed document".to_owned(),
        quick_xml::Error::InvalidAttr(_) => "an invalid attribute".to_owned(),
        quick_xml::Error::Encoding(_) => "text that is not valid in its encoding".to_owned(),
        quick_xml::Error::Escape(_) => "an invalid character or entity reference".to_owned(),
        quick_xml::Error::Io(_) | quick_xml::Error::Namespace(_) => {
            "an unreadable document".to_owned()
        }
    };
    ReplyError::Malformed(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_shape_and_variants() {
        let r = parse_reply(
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n  <ResponseCode>0</ResponseCode>\n  <ResponseData>ABC123</ResponseData>\n</Response>",
        )
        .unwrap();
        assert_eq!((r.code, r.data.as_str()), (0, "ABC123"));
        let r = parse_reply(b"<electaresponse><returncode> 7 </returncode><responsedata>Invalid Account or Application Key</responsedata></electaresponse>").unwrap();
        assert_eq!(
            (r.code, r.data.as_str()),
            (7, "Invalid Account or Application Key")
        );
        let r = parse_reply(
            b"<Result Code=\"-1\"><ResponseData>A &amp; B &#65;</ResponseData></Result>",
        )
        .unwrap();
        assert_eq!((r.code, r.data.as_str()), (-1, "A & B A"));
        let r =
            parse_reply(b"<R><ResponseData><![CDATA[tok<en>]]></ResponseData><Code>0</Code></R>")
                .unwrap();
        assert_eq!((r.code, r.data.as_str()), (0, "tok<en>"));
        let r = parse_reply(b"<R><Code>0</Code><ResponseData/></R>").unwrap();
        assert_eq!(r.data, "");
    }

    #[test]
    fn csv_token_replies() {
        let ok = |body: &[u8]| parse_login_reply(body).map(|r| (r.code, r.data));
        assert_eq!(ok(b"0,ABC123"), Ok((0, "ABC123".into())));
        assert_eq!(ok(b" 0 , ABC123 \r\n\r\n"), Ok((0, "ABC123".into())));
        assert_eq!(
            ok(b"ResponseCode,ResponseData\r\n0,ABC123\r\n"),
            Ok((0, "ABC123".into()))
        );
        assert_eq!(
            ok(b"-3,\"Locked, \"\"really\"\"\""),
            Ok((-3, "Locked, \"really\"".into()))
        );
        assert_eq!(
            ok(b"1,Invalid Account or Application Key"),
            Ok((1, "Invalid Account or Application Key".into()))
        );
        // XML still goes through the XML reader.
        assert_eq!(
            ok(b"<R><Code>0</Code><ResponseData>X</ResponseData></R>"),
            Ok((0, "X".into()))
        );
        for bad in [
            &b"ABC123"[..],
            b"ResponseCode,ResponseData",
            b"ResponseCode,ResponseData\r\nzero,ABC",
            b"0,A\r\n0,B",
            b"{\"success\": tru<<<",
        ] {
            assert!(
                matches!(parse_login_reply(bad), Err(ReplyError::BadCsv { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(parse_login_reply(b" \r\n"), Err(ReplyError::Empty));
        assert_eq!(
            parse_login_reply(b"<html><body>0,x</body></html>"),
            Err(ReplyError::Html)
        );
    }

    #[test]
    fn rejects_what_is_not_a_reply() {
        assert_eq!(parse_reply(b"  "), Err(ReplyError::Empty));
        assert_eq!(
            parse_reply(b"<!DOCTYPE html><html></html>"),
            Err(ReplyError::Html)
        );
        assert_eq!(
            parse_reply(b"ResponseCode,ResponseData\r\n0,TOKEN\r\n"),
            Err(ReplyError::NotXml { lines: 2 })
        );
        assert!(matches!(
            parse_reply(b"<Response><ResponseCode>0</ResponseCode>"),
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            parse_reply(b"<a><b></a>"),
            Err(ReplyError::Malformed(_))
        ));
        assert_eq!(
            parse_reply(b"<Response><ResponseData>x</ResponseData></Response>"),
            Err(ReplyError::MissingCode)
        );
        assert_eq!(
            parse_reply(b"<Response><Code>zero</Code><ResponseData>x</ResponseData></Response>"),
            Err(ReplyError::BadCode)
        );
        assert_eq!(
            parse_reply(b"<Response><Code>0</Code></Response>"),
            Err(ReplyError::MissingData)
        );
        assert!(matches!(
            parse_reply(b"<a/><b/>"),
            Err(ReplyError::Malformed(_))
        ));
    }
}
