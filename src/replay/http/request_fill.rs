//! A step's recorded requests filled in for this session: each `${variable}` written for where
//! it goes (see [`crate::replay::fill`]), URLs resolved against the target.

use super::client::Request;
use super::session::HttpSession;
use super::step::StepFailure;
use crate::flow::RecordedRequest;
use crate::metrics::{Outcome, SampleKind};
use crate::replay::fill::{fill, Place};
use crate::replay::CachedUrl;
use http::Method;
use std::sync::Arc;
use url::Url;

impl HttpSession<'_, '_> {
    /// The request to send: variables filled in, the URL parsed (or taken from `cached`).
    pub(super) fn fill(
        &self,
        recorded: &RecordedRequest,
        cached: Option<&CachedUrl>,
        label: &str,
    ) -> Result<Request, StepFailure> {
        let (url, name) = self.resolve_url(cached, &recorded.url, label)?;
        let mut headers = Vec::with_capacity(recorded.headers.len());
        for (name, value) in &recorded.headers {
            headers.push((name.clone(), self.header_value(&url, name, value, label)?));
        }
        let body = match &recorded.body {
            Some(b) => Some(self.fill_in(b, Place::of_request(&recorded.headers, b), label)?),
            None => None,
        };
        Ok(Request {
            method: Method::from_bytes(recorded.method.as_bytes()).map_err(|_| StepFailure {
                outcome: Outcome::Error,
                message: format!("step {label}: bad method `{}`", recorded.method),
            })?,
            url,
            headers,
            body,
            kind: SampleKind::from_request_kind(recorded.kind),
            name,
            expect: recorded.status.filter(|s| *s >= 400),
        })
    }

    /// A recorded header's value for a request to `url`, variables filled in. With `--login`,
    /// a recorded `Authorization` (a literal, or the recorder's `Bearer ${authorization}`
    /// secret) is the recording's own session: the user sends what its browser login's pages
    /// sent to that origin instead. One built from `${storage.NAME}` is the flow's choice.
    pub(super) fn header_value(
        &self,
        url: &Url,
        name: &str,
        value: &str,
        label: &str,
    ) -> Result<String, StepFailure> {
        let handed = self.s.handoff.and_then(|h| h.authorization_for(url));
        match handed {
            Some(auth)
                if name.eq_ignore_ascii_case("authorization")
                    && !value.contains(crate::replay::handoff::STORAGE_REF) =>
            {
                Ok(auth.to_string())
            }
            _ => self.fill_in(value, Place::Header, label),
        }
    }

    /// A request's URL and, when it was precomputed, its metric name.
    pub(super) fn resolve_url(
        &self,
        cached: Option<&CachedUrl>,
        template: &str,
        label: &str,
    ) -> Result<(Url, Option<Arc<str>>), StepFailure> {
        Ok(match cached {
            Some(c) => (c.url.clone(), Some(c.request_name.clone())),
            None => (self.fill_url(template, label)?, None),
        })
    }

    /// `text` with its variables filled in, each written for `place`.
    pub(super) fn fill_in(
        &self,
        text: &str,
        place: Place,
        label: &str,
    ) -> Result<String, StepFailure> {
        fill(self.s.vars, text, place).map_err(|name| {
            self.runner.sink.count("requests.not_sent.unresolved_variable", 1);
            StepFailure {
                outcome: Outcome::Error,
                message: format!("step {label}: variable `{name}` has no value (its extraction found nothing or it is not declared)"),
            }
        })
    }

    pub(super) fn fill_url(&self, text: &str, label: &str) -> Result<Url, StepFailure> {
        let filled = self.fill_in(text, Place::Url, label)?;
        self.s.flow.origin.join(&filled).map_err(|e| StepFailure {
            outcome: Outcome::Error,
            message: format!("step {label}: bad URL `{filled}`: {e}"),
        })
    }
}
