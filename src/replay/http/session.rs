//! One HTTP-mode session: the flow's steps in order, each step's recorded documents and AJAX
//! requests, the page's assets, its pollers while the page is open, extraction and checks.

use super::assets::{self, is_html};
use super::client::{Request, Response, Tag, UserClient};
use super::evidence::{self, LastResponse};
use super::extract;
use super::html::{self, Bounds};
use super::live;
use super::poller::{poll_request, OpenPage};
use super::step::{
    ajax_verdict, cancelled, check_response, skip_assets, take_assets, StepFailure, StepResult,
};
use super::HttpRunner;
use crate::flow::{Action, Network, RecordedRequest, RequestKind, Step};
use crate::metrics::{request_name, MetricKey, Mode, Outcome, SampleKind};
use crate::replay::conditions::Conditions;
use crate::replay::fill::{fill, Place};
use crate::replay::{page_name, same_document, step_label, CachedUrl, Session, SessionOutcome};
use http::Method;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

pub(super) struct HttpSession<'s, 'a> {
    pub(super) runner: &'s HttpRunner,
    client: Arc<UserClient>,
    pub(super) s: Session<'a>,
    page: Option<OpenPage>,
    /// The current step's latest response, for the failure report.
    last: Option<LastResponse>,
    /// The flow request being sent (step, first index, last hop index), for a trace.
    at: (usize, usize, usize),
}

impl<'s, 'a> HttpSession<'s, 'a> {
    pub fn new(runner: &'s HttpRunner, client: Arc<UserClient>, s: Session<'a>) -> Self {
        HttpSession {
            runner,
            client,
            s,
            page: None,
            last: None,
            at: (0, 0, 0),
        }
    }

    pub async fn run(mut self) -> SessionOutcome {
        self.client.new_session();
        if let Some(handoff) = self.s.handoff {
            self.client.seed_cookies(&handoff.cookies);
        }
        let flow = self.s.flow;
        // Each session starts on its flow's network (a step may change it for the rest).
        self.client.set_network(
            flow.network
                .or(self.runner.options.client.network.as_deref().copied()),
        );
        let mut outcome = SessionOutcome::Completed;
        for (index, step) in flow.flow.steps.iter().enumerate() {
            let pause = self.s.think.think_time(step.think_time_ms);
            if !self.pause(pause).await {
                outcome = SessionOutcome::Cancelled;
                break;
            }
            if let Some(page) = self.page.as_mut() {
                page.sockets_opened().await;
            }
            let started = Instant::now();
            let label = self.label(index, step);
            if let Some(c) = self.s.recorder.capture() {
                c.step(index as u32, &label);
            }
            self.last = None;
            let result = self.run_step(index, step, &label, started).await;
            if matches!(&result, Err(f) if f.outcome == Outcome::Interrupted) {
                // The run's hard deadline: the request is counted as cancelled; the step
                // and the session were abandoned by throng, not failed by the target.
                outcome = SessionOutcome::Cancelled;
                break;
            }
            let key = self.key(Some(index as u32), SampleKind::Step, label);
            let step_outcome = result.as_ref().err().map_or(Outcome::Ok, |f| f.outcome);
            self.s
                .recorder
                .record(&key, started.elapsed(), step_outcome);
            if let Err(failure) = result {
                if let Some(c) = self.s.recorder.capture() {
                    c.failed_at(index as u32);
                }
                let at = (&*flow.name, index as u32);
                let last = self.last.take();
                evidence::keep(
                    &self.runner.sink,
                    at,
                    &failure.message,
                    last.as_ref(),
                    self.s.vars,
                );
                outcome = SessionOutcome::Failed(failure.message);
                break;
            }
            if matches!(step.action, Action::Close) {
                break;
            }
        }
        if outcome == SessionOutcome::Completed && !self.pause(self.s.dwell).await {
            outcome = SessionOutcome::Cancelled;
        }
        if let Some(page) = self.page.take() {
            page.close().await;
        }
        outcome
    }

    /// Waits with the page open (its pollers keep running); false when cancelled.
    async fn pause(&self, pause: Duration) -> bool {
        if pause.is_zero() {
            return !self.s.cancel.is_cancelled();
        }
        tokio::select! {
            _ = self.s.cancel.cancelled() => false,
            _ = tokio::time::sleep(pause) => true,
        }
    }

    fn key(&self, step: Option<u32>, kind: SampleKind, name: Arc<str>) -> MetricKey {
        MetricKey {
            mode: Mode::Http,
            flow: self.s.flow.name.clone(),
            step,
            kind,
            name,
        }
    }

    fn label(&self, index: usize, step: &Step) -> Arc<str> {
        match self.s.flow.cache.label(index) {
            Some(label) => label.clone(),
            None => Arc::from(step_label(index, step)),
        }
    }

    /// Runs one step that started (its think time over) at `started`.
    async fn run_step(
        &mut self,
        index: usize,
        step: &Step,
        label: &str,
        started: Instant,
    ) -> StepResult {
        let tag = Tag {
            flow: self.s.flow.name.clone(),
            step: Some(index as u32),
            trace: self.s.recorder.trace().cloned(),
            capture: self.s.recorder.capture().cloned(),
        };
        if let Action::EmulateNetworkConditions {
            download,
            upload,
            latency,
        } = step.action
        {
            // From this step on, this user's link is shaped so, as Chromium's page is.
            let conditions = Conditions::from_cdp(download, upload, latency);
            self.client.set_network(Some(conditions));
        }
        let synthesized;
        let network = match (&step.network, &step.action) {
            (Some(net), _) => net,
            (None, Action::Navigate { .. }) => {
                let url = step.action.replay_url().unwrap_or_default();
                synthesized = Network {
                    requests: vec![RecordedRequest::document_get(url)],
                    ..Network::default()
                };
                &synthesized
            }
            // Clicks and typing without recorded traffic send nothing over plain HTTP.
            (None, _) => return Ok(()),
        };
        // Checks apply to the step's document, or to its last AJAX response without one.
        let mut main_response: Option<Response> = None;
        let mut has_document = false;
        let mut last_document_url: Option<Url> = None;
        let requests = &network.requests;
        let flow = self.s.flow;
        let mut i = 0;
        while i < requests.len() {
            if self.client.past_deadline() {
                return Err(cancelled(label));
            }
            let recorded = &requests[i];
            let cached = flow.cache.request(index, i, &recorded.url);
            i += 1;
            let request = self.fill(recorded, cached, label)?;
            // Every request kind, recorded as external or not (the client checks every
            // redirect hop too).
            if !self.runner.host_allowed(&request.url) {
                self.runner.sink.count("requests.blocked", 1);
                if recorded.kind == RequestKind::Document {
                    skip_assets(requests, &mut i);
                }
                continue;
            }
            if recorded.kind == RequestKind::Document {
                // A browser reached this document already by following the previous redirect.
                if last_document_url.as_ref() == Some(&request.url) && request.method == Method::GET
                {
                    skip_assets(requests, &mut i);
                    continue;
                }
                // The redirect hops the recording listed after this document: the client
                // follows them itself; what they extract applies to where it lands.
                let first = i - 1;
                while requests[i - 1]
                    .status
                    .is_some_and(|s| (300..400).contains(&s))
                    && requests
                        .get(i)
                        .is_some_and(|r| r.kind == RequestKind::Document)
                {
                    i += 1;
                }
                let hops = &requests[first..i];
                self.at = (index, first, i - 1);
                let mut request = request;
                request.expect = hops.last().and_then(|r| r.status).filter(|s| *s >= 400);
                let recorded_assets = take_assets(requests, &mut i);
                let response = match self
                    .load_page(request, cached, recorded_assets, &tag, label)
                    .await
                {
                    Ok(r) => r,
                    // A document the flow says may fail: the page-load sample shows it.
                    Err(f)
                        if f.outcome != Outcome::Interrupted && hops.iter().all(|h| h.optional) =>
                    {
                        continue
                    }
                    Err(f) => return Err(f),
                };
                last_document_url = Some(response.final_url.clone());
                for hop in hops {
                    self.apply_extractions(hop, &response).await;
                }
                main_response = Some(response);
                has_document = true;
            } else if recorded.kind == RequestKind::Static {
                let url = request.url.clone();
                let expected: Vec<(Url, u16)> = request
                    .expect
                    .map(|s| (url.clone(), s))
                    .into_iter()
                    .collect();
                let allowed = |u: &Url| self.runner.host_allowed(u);
                let fonts = false;
                assets::fetch_all(&self.client, vec![url], &tag, 1, &allowed, &expected, fonts)
                    .await;
            } else {
                let kind = SampleKind::from_request_kind(recorded.kind);
                self.at = (index, i - 1, i - 1);
                let (method, url) = (request.method.clone(), request.url.clone());
                let name = request_name(method.as_str(), url.as_str());
                let sent = self
                    .client
                    .send(Request { kind, ..request }, &tag, &[])
                    .await;
                self.trace(&method, &url, sent.as_ref().map_err(|o| *o));
                // A failed request is already recorded; one the recording saw succeed (an API
                // login, say) fails the step, as the page would have shown an error.
                let got = sent.as_ref().map(|r| r.status).map_err(|o| *o);
                let verdict = ajax_verdict(got, recorded, label, &name);
                if let Ok(response) = sent {
                    self.apply_extractions(recorded, &response).await;
                    if verdict.is_err() || !has_document {
                        self.last = Some(LastResponse::of(&response));
                    }
                    if !has_document {
                        main_response = Some(response);
                    }
                }
                verdict?;
            }
        }
        if self.client.past_deadline() {
            return Err(cancelled(label));
        }
        self.start_pollers(index, network, &tag, label)?;
        self.start_streams(index, network, &tag, label, started)?;
        if has_document {
            if let Some(response) = &main_response {
                self.check_navigation(step, response, label).await?;
            }
        }
        match main_response {
            Some(response) => check_response(&step.checks, &response, label),
            None if step.checks.is_empty() => Ok(()),
            None => Err(StepFailure {
                outcome: Outcome::CheckFailed,
                message: format!(
                    "step {label}: checks need a response but the step sent no request"
                ),
            }),
        }
    }

    /// Document, its assets (recorded or discovered) and the page-load sample; the old page's
    /// pollers stop when the new document arrives. `cached`: the document's URL precomputed.
    async fn load_page(
        &mut self,
        request: Request,
        cached: Option<&CachedUrl>,
        (recorded_assets, expected_assets): (Vec<Url>, Vec<(Url, u16)>),
        tag: &Tag,
        label: &str,
    ) -> Result<Response, StepFailure> {
        let started = Instant::now();
        let expect = request.expect;
        let page_of = |url: &Url| match cached {
            Some(c) if c.url == *url => c.page_name.clone(),
            _ => Arc::from(page_name(url.as_str())),
        };
        let requested_page = page_of(&request.url);
        self.last = Some(LastResponse {
            status: None,
            url: request.url.to_string(),
            body: Default::default(),
        });
        let (method, url) = (request.method.clone(), request.url.clone());
        let sent = self.client.send(request, tag, &[]).await;
        self.trace(&method, &url, sent.as_ref().map_err(|o| *o));
        let response = match sent {
            Ok(r) => {
                self.last = Some(LastResponse::of(&r));
                r
            }
            // Not the target's failures: no page-load sample (the request is counted).
            Err(Outcome::Interrupted) => {
                return Err(cancelled(label));
            }
            Err(Outcome::Blocked) => {
                return Err(StepFailure {
                    outcome: Outcome::Blocked,
                    message: format!(
                        "step {label}: document {requested_page} redirected to a host the run \
                         does not allow (blocked; --allow-host HOST lets it through)"
                    ),
                });
            }
            Err(outcome) => {
                let key = self.key(tag.step, SampleKind::PageLoad, requested_page);
                self.s.recorder.record(&key, started.elapsed(), outcome);
                return Err(StepFailure {
                    outcome,
                    message: format!("step {label}: document request failed ({outcome:?})"),
                });
            }
        };
        if let Some(page) = self.page.take() {
            page.close().await;
        }
        let discovered = recorded_assets.is_empty();
        let assets = if !discovered {
            recorded_assets
        } else if self.s.flow.discover_assets && is_html(&response.headers) {
            let (body, base) = (response.body.clone(), response.final_url.clone());
            let found = self.client.off_runtime(move |budget| {
                let parsed = html::parse_body(&body, budget);
                (assets::discover_in_html(&parsed.doc, &base), parsed.bounds)
            });
            let Some((urls, bounds)) = found.await else {
                return Err(cancelled(label));
            };
            self.count_bounds(bounds);
            urls
        } else {
            Vec::new()
        };
        if !assets.is_empty() {
            let mut expected_assets = expected_assets;
            expected_assets.extend(self.s.flow.static_errors.iter().cloned());
            let allowed = |u: &Url| self.runner.host_allowed(u);
            let fetched = assets::fetch_all(
                &self.client,
                assets,
                tag,
                self.client.parallel_requests(&response.final_url),
                &allowed,
                &expected_assets,
                discovered,
            )
            .await;
            if fetched.blocked > 0 {
                self.runner
                    .sink
                    .count("requests.blocked", fetched.blocked as u64);
            }
        }
        // The error page the recording saw (a 404 the site really answers) is no failure.
        let outcome = if response.status >= 400 && Some(response.status) != expect {
            Outcome::Status(response.status)
        } else {
            Outcome::Ok
        };
        let key = self.key(tag.step, SampleKind::PageLoad, page_of(&response.final_url));
        self.s.recorder.record(&key, started.elapsed(), outcome);
        if outcome != Outcome::Ok {
            return Err(StepFailure {
                outcome,
                message: format!("step {label}: {} answered {}", key.name, response.status),
            });
        }
        self.page = Some(OpenPage::default());
        Ok(response)
    }

    /// The navigation the step asserted (where the browser landed, the page's title) against the
    /// document the step ended on: a login that answers its form again is a failed step here too.
    async fn check_navigation(&self, step: &Step, response: &Response, label: &str) -> StepResult {
        for event in step
            .asserted_events
            .iter()
            .filter(|e| e.kind == "navigation")
        {
            // A URL with a variable this session has no value for is not compared.
            if let Some(want) = event
                .replay_url()
                .and_then(|u| fill(self.s.vars, u, Place::Url).ok())
            {
                if !same_document(response.final_url.as_str(), &want) {
                    return Err(StepFailure {
                        outcome: Outcome::CheckFailed,
                        message: format!(
                            "step {label}: navigated to {}, expected {want}",
                            response.final_url
                        ),
                    });
                }
            }
            if let Some(want) = event.title.as_ref().and_then(|t| self.s.vars.fill(t).ok()) {
                let body = response.body.clone();
                let title = self.client.off_runtime(move |budget| {
                    let parsed = html::parse_body(&body, budget);
                    (html::title(&parsed.doc), parsed.bounds)
                });
                let Some((got, bounds)) = title.await else {
                    return Err(cancelled(label));
                };
                self.count_bounds(bounds);
                if got.as_deref() != Some(want.trim()) {
                    return Err(StepFailure {
                        outcome: Outcome::CheckFailed,
                        message: format!("step {label}: page title is {got:?}, expected {want:?}"),
                    });
                }
            }
        }
        Ok(())
    }

    fn start_pollers(
        &mut self,
        step: usize,
        network: &Network,
        tag: &Tag,
        label: &str,
    ) -> StepResult {
        if network.polling.is_empty() {
            return Ok(());
        }
        let mut filled = Vec::new();
        for (i, poller) in network.polling.iter().enumerate() {
            let cached = self.s.flow.cache.poller(step, i, &poller.url);
            let (url, name) = self.resolve_url(cached, &poller.url, label)?;
            let body = match &poller.body {
                Some(b) => Some(self.fill_in(b, Place::of_request(&poller.headers, b), label)?),
                None => None,
            };
            let mut headers = Vec::with_capacity(poller.headers.len());
            for (name, value) in &poller.headers {
                headers.push((name.clone(), self.header_value(&url, name, value, label)?));
            }
            filled.push((poller, url, headers, body, name));
        }
        let cancel = self.s.cancel;
        let page = self.page.get_or_insert_with(OpenPage::default);
        for (poller, url, headers, body, name) in filled {
            if !self.runner.host_allowed(&url) {
                self.runner.sink.count("requests.blocked", 1);
                continue;
            }
            page.start(
                cancel,
                self.client.clone(),
                poller,
                poll_request(poller, url, headers, body, name),
                tag.clone(),
            );
        }
        Ok(())
    }

    /// The page's EventSources, streams and WebSockets, each opened at its recorded point
    /// after the step `started` (once the step's requests are done, whose values it may
    /// use), and held open until the page closes.
    fn start_streams(
        &mut self,
        step: usize,
        network: &Network,
        tag: &Tag,
        label: &str,
        started: Instant,
    ) -> StepResult {
        if !network.has_live() {
            return Ok(());
        }
        let held = live::prepare(
            network,
            (step, started),
            &self.s.flow.cache,
            |t, place| self.fill_in(t, place, label),
            |u| self.fill_url(u, label),
            |u, name, value| self.header_value(u, name, value, label),
        )?;
        let cancel = self.s.cancel;
        let page = self.page.get_or_insert_with(OpenPage::default);
        for (at, held) in held {
            live::hold(page, cancel, self.client.clone(), tag.clone(), at, held);
        }
        Ok(())
    }

    /// Keeps what a flow request got when the replay is traced (a verifying replay).
    fn trace(&self, method: &Method, url: &Url, got: Result<&Response, Outcome>) {
        if let Some(trace) = &self.s.flow.trace {
            evidence::trace(trace, self.at, (method, url), got);
        }
    }

    /// The flow's extractions from the response to `recorded`: header rules at once, body
    /// rules in one job off the runtime.
    async fn apply_extractions(&mut self, recorded: &RecordedRequest, response: &Response) {
        let Some(id) = &recorded.id else { return };
        let mut from_body = Vec::new();
        for var in &self.s.flow.flow.variables {
            let Some(rule) = var.extract.as_ref().filter(|r| &r.from == id) else {
                continue;
            };
            if extract::is_header_rule(rule) {
                let value = extract::from_header(rule, &response.headers);
                self.set_extracted(&var.name, value);
            } else {
                from_body.push((var.name.clone(), rule.clone()));
            }
        }
        if from_body.is_empty() {
            return;
        }
        let (names, rules): (Vec<String>, Vec<_>) = from_body.into_iter().unzip();
        let body = response.body.clone();
        let job = move |budget: &_| extract::from_body(&rules, &body, budget);
        // Nothing when the run's deadline came first: the step ends as cancelled.
        let Some((values, bounds)) = self.client.off_runtime(job).await else {
            return;
        };
        self.count_bounds(bounds);
        for (name, value) in names.iter().zip(values) {
            self.set_extracted(name, value);
        }
    }

    fn set_extracted(&mut self, name: &str, value: Option<String>) {
        match value {
            Some(value) => self.s.vars.set(name, value),
            None => self.runner.sink.count("variables.extract_failed", 1),
        }
    }

    /// Counts a document parsed past its bounds (`html.too_deep`, `html.cut`).
    fn count_bounds(&self, bounds: Bounds) {
        if bounds.too_deep {
            self.runner.sink.count("html.too_deep", 1);
        }
        if bounds.cut {
            self.runner.sink.count("html.cut", 1);
        }
    }
}
