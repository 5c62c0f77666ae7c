//! Which link a user's requests go over now: its network conditions (`--network`, its
//! flow's, a step's), the shaper its connections pace by, and its HTTP/2 connection kept only
//! while it runs on that link.

use super::http2::H2Conn;
use super::pool::Origin;
use super::shape::Shaper;
use super::{H1Error, HopError, UserClient};
use crate::replay::conditions::Conditions;
use crate::sync::Locked;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl UserClient {
    /// From now on this user's requests go over a link with these conditions (None or
    /// unthrottled: not shaped); connections already open follow at their next request.
    pub fn set_network(&self, conditions: Option<Conditions>) {
        let conditions = conditions.filter(|c| !c.is_unthrottled());
        if conditions.is_none() && !self.shaped.load(Ordering::Relaxed) {
            return;
        }
        let mut shape = self.shape.locked();
        if let (Some(now), Some(c)) = (shape.as_ref(), conditions) {
            if now.conditions() == c {
                // The same link: its clock and its HTTP/2 connections carry on.
                return;
            }
        }
        let shaper = conditions.map(|c| Arc::new(Shaper::new(c)));
        self.shaped.store(shaper.is_some(), Ordering::Relaxed);
        *shape = shaper;
    }

    /// This user's shaped link, if any; an offline one fails the request here.
    pub(super) fn shaper(&self) -> Result<Option<Arc<Shaper>>, HopError> {
        if !self.shaped.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let shape = self.shape.locked().clone();
        if let Some(s) = &shape {
            s.check_online()
                .map_err(|e| HopError::Transport(H1Error::Io(e)))?;
        }
        Ok(shape)
    }

    /// The origin's HTTP/2 connection if it runs on the user's current link; one opened on
    /// another network is let go (its requests in flight finish on it).
    pub(super) fn current_h2(
        &self,
        origin: Origin<'_>,
        shape: &Option<Arc<Shaper>>,
    ) -> Option<H2Conn> {
        let conn = self.pool.h2(origin)?;
        if conn.shaped_by(shape) {
            return Some(conn);
        }
        self.pool.drop_h2(origin, &conn);
        None
    }
}
