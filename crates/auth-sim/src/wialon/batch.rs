//! `core/batch`: several services in one request.
//!
//! help.wialon.com, API reference, `core/batch`: `params` is either an array
//! `[{"svc":<text>,"params":{..}}, ..]` or an object
//! `{"params":[{"svc":..,"params":{..}}, ..],"flags":<uint>}`; the answer is
//! an array with one result per command (`{"error":N}` for a failed one);
//! with `flags` 1, every command after a failed one answers
//! `{"error":10}`. Error 4: wrong input parameters. python-wialon and
//! py-aiowialon send the array (py-aiowialon the object with `flags`), with
//! each command's `params` as a JSON object.

use serde_json::{Map, Value, json};

use super::{SessionState, SimState, run_service};

/// Runs a `core/batch` request: the array of results, or the error code of
/// the whole request.
pub(super) fn run(
    state: &SimState,
    session: &SessionState,
    sid: &str,
    params: Option<&str>,
) -> Result<Value, i64> {
    let params: Value = serde_json::from_str(params.ok_or(4)?).map_err(|_| 4)?;
    let (commands, stop_on_error) = match params {
        Value::Array(commands) => (commands, false),
        Value::Object(mut map) => {
            let flags = match map.get("flags") {
                None | Some(Value::Null) => 0,
                Some(v) => v.as_u64().ok_or(4)?,
            };
            match map.remove("params") {
                Some(Value::Array(commands)) => (commands, flags & 1 != 0),
                _ => return Err(4),
            }
        }
        _ => return Err(4),
    };
    let mut results = Vec::with_capacity(commands.len());
    let mut failed = false;
    for command in commands {
        if failed && stop_on_error {
            results.push(json!({"error": 10}));
            continue;
        }
        let result = run_command(state, session, sid, command);
        failed |= result.is_err();
        results.push(result.unwrap_or_else(|code| json!({ "error": code })));
    }
    Ok(Value::Array(results))
}

/// One command of a batch: `{"svc":..,"params":{..}}` (params may also be
/// JSON text, as in a plain request).
fn run_command(
    state: &SimState,
    session: &SessionState,
    sid: &str,
    command: Value,
) -> Result<Value, i64> {
    let Value::Object(mut command) = command else {
        return Err(4);
    };
    let svc = match command.remove("svc") {
        Some(Value::String(svc)) => svc,
        _ => return Err(4),
    };
    let params: Option<Map<String, Value>> = match command.remove("params") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(Value::String(text)) => match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => Some(map),
            _ => return Err(4),
        },
        Some(_) => return Err(4),
    };
    if svc == "core/batch" {
        return Err(2);
    }
    run_service(state, session, sid, &svc, params)
}
