//! What a login session hands over (`--login`): read from the browser once its flow is done,
//! before the page is left: the context's cookies for the flow's hosts, the `Authorization`
//! its pages last sent to the flow's origin (noted as requests are sent), and the page's
//! localStorage and sessionStorage.

use super::session::{cdp, PageState, SessionEnv};
use super::steps::StepError;
use crate::replay::handoff::{HandedCookie, Handoff};
use crate::sync::Locked;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::network::EventRequestWillBeSent;
use chromiumoxide::cdp::browser_protocol::storage::GetCookiesParams;
use chromiumoxide::Page;
use url::Url;

/// Origins whose last `Authorization` a page's requests carried: a few are plenty.
const MAX_ORIGINS: usize = 16;

/// Reads the named values of both storages of the page's document as `[[name, value], ...]`
/// (localStorage first), each at most `MAX` characters: `NAMES` and `MAX` are filled in.
const READ_STORAGE: &str = r#"((names, max) => {
  const out = [];
  for (const s of [() => localStorage, () => sessionStorage]) {
    try {
      const store = s();
      for (const k of names) {
        const v = store.getItem(k);
        if (v !== null && v.length <= max) out.push([k, v]);
      }
    } catch (e) {}
  }
  return out;
})(NAMES, MAX)"#;

/// Notes the `Authorization` a request carries, by the origin it goes to.
pub(crate) fn note_authorization(state: &PageState, e: &EventRequestWillBeSent) {
    let Some(headers) = e.request.headers.inner().as_object() else {
        return;
    };
    let Some(value) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.as_str())
    else {
        return;
    };
    let Ok(url) = Url::parse(&e.request.url) else {
        return;
    };
    let origin = url.origin().ascii_serialization();
    let mut seen = state.authorization.locked();
    match seen.iter().position(|(o, _)| *o == origin) {
        Some(i) => seen[i].1 = value.to_string(),
        None if seen.len() < MAX_ORIGINS => seen.push((origin, value.to_string())),
        None => {}
    }
}

/// The handoff of a login session whose steps all passed.
pub(crate) async fn capture(
    env: &SessionEnv<'_>,
    ctx: &BrowserContextId,
    page: &Page,
    state: &PageState,
    origin: &Url,
    names: &[String],
) -> Result<Handoff, StepError> {
    let params = GetCookiesParams::builder()
        .browser_context_id(ctx.clone())
        .build();
    let cookies = cdp(
        env,
        "read the login's cookies",
        env.proc.browser.execute(params),
    )
    .await?;
    let hosts: Vec<&str> = origin
        .host_str()
        .into_iter()
        .chain(env.allow_hosts.iter().map(|h| host_of(h)))
        .collect();
    let cookies = cookies
        .result
        .cookies
        .iter()
        .map(|c| HandedCookie {
            name: c.name.clone(),
            value: c.value.clone(),
            domain: c.domain.clone(),
            path: c.path.clone(),
            secure: c.secure,
            http_only: c.http_only,
        })
        .filter(|c| hosts.iter().any(|h| c.applies_to(h)))
        .collect();
    let read = READ_STORAGE
        .replace(
            "NAMES",
            &serde_json::to_string(names).unwrap_or_else(|_| "[]".into()),
        )
        .replace("MAX", &crate::replay::handoff::MAX_VALUE_BYTES.to_string());
    let storage = super::extract::evaluate(page, &read)
        .await
        .map_err(|e| StepError::Failed(format!("read the login's storage: {e}")))?;
    let values = storage.as_array().into_iter().flatten().filter_map(|pair| {
        let name = pair.get(0)?.as_str()?;
        let value = pair.get(1)?.as_str()?;
        Some((name.to_string(), value.to_string()))
    });
    let want = origin.origin().ascii_serialization();
    let authorization = state
        .authorization
        .locked()
        .iter()
        .find(|(o, _)| *o == want)
        .cloned();
    Ok(Handoff {
        cookies,
        authorization,
        storage: Vec::new(),
    }
    .with_storage(values))
}

/// `host` of an `--allow-host` entry (`host` or `host:port`).
fn host_of(entry: &str) -> &str {
    match entry.trim().rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => entry.trim(),
    }
}
