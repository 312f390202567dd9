//! The server-wide compression memory budget, negotiation against it, and
//! the codec state a connection keeps.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::config::Config;
use crate::handshake::{
    DeflateConfig, DeflateParams, ExtensionOffer, PERMESSAGE_DEFLATE, negotiate_deflate,
};
use crate::protocol::{
    Compressor, CompressorPool, DECOMPRESSOR_MEMORY, Decompressor, DeflateSettingError, Role,
    compressor_memory,
};

/// The most compressors in a server's shared pool. Compressing is CPU-bound
/// and a pooled compressor is held only while one message is compressed
/// (never across an await), so more compressors than cores would rarely be
/// busy at once; a message that finds all of them busy goes uncompressed.
const MAX_POOL: usize = 8;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// One server's compression memory: what is reserved, the shared pool, and
/// the counters [`MetricsSnapshot`](crate::MetricsSnapshot) reports.
///
/// The limit is not stored here: it is
/// [`Config::deflate_memory_budget`], read at each reservation (a server
/// has one `Config`; connections mounted without a server share
/// [`process`](Self::process)'s budget, each checked against its own
/// request's limit).
#[derive(Debug, Default)]
pub(crate) struct DeflateBudget {
    /// Bytes reserved: connections' codecs plus the pool.
    in_use: AtomicUsize,
    /// The compressors shared by connections without their own, made (and
    /// counted) once, when first needed.
    pool: Mutex<Option<Arc<CompressorPool>>>,
    /// Open connections with permessage-deflate.
    connections: AtomicUsize,
    /// Of those, connections compressing with the shared pool.
    pooled: AtomicUsize,
    /// Offers that were acceptable but declined for lack of budget.
    declined: AtomicU64,
    /// Payload bytes of compressed messages, before and after compression.
    uncompressed: AtomicU64,
    compressed: AtomicU64,
}

/// The figures of one [`DeflateBudget`] at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DeflateCounters {
    pub(crate) connections: usize,
    pub(crate) pooled: usize,
    pub(crate) declined: u64,
    pub(crate) memory: usize,
    pub(crate) bytes_saved: u64,
}

impl DeflateBudget {
    /// The budget shared by connections that no server owns (mounted with
    /// [`WebSocketRequest::from_stream`](crate::WebSocketRequest::from_stream)):
    /// one for the whole process.
    pub(crate) fn process() -> Arc<DeflateBudget> {
        static PROCESS: OnceLock<Arc<DeflateBudget>> = OnceLock::new();
        PROCESS.get_or_init(Arc::default).clone()
    }

    /// Reserves `bytes` if the total stays within `limit`.
    fn try_reserve(&self, bytes: usize, limit: usize) -> bool {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= limit)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.in_use.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// The shared pool, made now (and its memory reserved, once) if this is
    /// the first connection to need it; `None` if it does not fit.
    fn pool(&self, config: &Config) -> Option<Arc<CompressorPool>> {
        let mut slot = lock(&self.pool);
        if let Some(pool) = &*slot {
            return Some(pool.clone());
        }
        let bits = config.deflate.server_max_window_bits.clamp(9, 15);
        let size = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_POOL);
        let memory = size * compressor_memory(bits);
        if !self.try_reserve(memory, config.deflate_memory_budget) {
            return None;
        }
        match CompressorPool::new(size, bits, config.deflate.level) {
            Ok(pool) => {
                let pool = Arc::new(pool);
                *slot = Some(pool.clone());
                Some(pool)
            }
            Err(e) => {
                self.release(memory);
                log::warn!("permessage-deflate disabled: {e}");
                None
            }
        }
    }

    pub(crate) fn counters(&self) -> DeflateCounters {
        DeflateCounters {
            connections: self.connections.load(Ordering::Relaxed),
            pooled: self.pooled.load(Ordering::Relaxed),
            declined: self.declined.load(Ordering::Relaxed),
            memory: self.in_use.load(Ordering::Relaxed),
            bytes_saved: self
                .uncompressed
                .load(Ordering::Relaxed)
                .saturating_sub(self.compressed.load(Ordering::Relaxed)),
        }
    }
}

/// One connection's share of a budget, given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<DeflateBudget>,
    bytes: usize,
    pooled: bool,
}

impl Reservation {
    fn new(budget: &Arc<DeflateBudget>, bytes: usize, pooled: bool) -> Reservation {
        budget.connections.fetch_add(1, Ordering::Relaxed);
        if pooled {
            budget.pooled.fetch_add(1, Ordering::Relaxed);
        }
        Reservation {
            budget: budget.clone(),
            bytes,
            pooled,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
        self.budget.connections.fetch_sub(1, Ordering::Relaxed);
        if self.pooled {
            self.budget.pooled.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// How a connection compresses what it sends.
#[derive(Debug)]
pub(crate) enum SendCodec {
    /// Its own compressor. A compressed send holds this (async) lock from
    /// before it compresses until its frames are in the send queue, so
    /// compressed messages enter the queue, and reach the peer, in the order
    /// they went through the compressor: what context takeover needs.
    Own(Box<futures::lock::Mutex<OwnCompressor>>),
    /// A compressor borrowed from the server's pool for each message (no
    /// context takeover, so order does not matter); none idle means the
    /// message goes uncompressed.
    Pool(Arc<CompressorPool>),
}

/// A connection's own compressor.
#[derive(Debug)]
pub(crate) struct OwnCompressor {
    /// `None` once the connection has finished (memory given back).
    pub(crate) compressor: Option<Compressor>,
    /// A message went through the compressor but its send was cancelled
    /// before it was queued: the peer will never see it, so the context
    /// is reset before the next message (a fresh context is always valid
    /// for the peer's decompressor, which then simply has unused history).
    pub(crate) dirty: bool,
    /// When a message last went through the compressor (see
    /// `Shared::release_idle_compressor`).
    pub(crate) last_used: Option<std::time::Instant>,
}

/// The permessage-deflate state a connection keeps for sending (the
/// decompressor lives in its receiver).
#[derive(Debug)]
pub(crate) struct DeflateState {
    pub(crate) params: DeflateParams,
    pub(crate) role: Role,
    /// Messages shorter than this go uncompressed unless forced.
    pub(crate) threshold: usize,
    pub(crate) codec: SendCodec,
    /// Payload bytes of this connection's compressed messages, before and
    /// after compression.
    uncompressed: AtomicU64,
    compressed: AtomicU64,
    budget: Option<Arc<DeflateBudget>>,
    reservation: Mutex<Option<Reservation>>,
}

impl DeflateState {
    fn new(
        params: DeflateParams,
        role: Role,
        threshold: usize,
        codec: SendCodec,
        reservation: Option<Reservation>,
    ) -> DeflateState {
        DeflateState {
            params,
            role,
            threshold,
            codec,
            uncompressed: AtomicU64::new(0),
            compressed: AtomicU64::new(0),
            budget: reservation.as_ref().map(|r| r.budget.clone()),
            reservation: Mutex::new(reservation),
        }
    }

    /// Whether a `len`-byte message should be compressed: at or above the
    /// threshold, unless a send forces it either way.
    pub(crate) fn wants(&self, len: usize, force: Option<bool>) -> bool {
        force.unwrap_or(len >= self.threshold)
    }

    /// The window this end compresses with, at most.
    pub(crate) fn send_window_bits(&self) -> u8 {
        self.params.send_window_bits(self.role)
    }

    /// Counts one compressed message.
    pub(crate) fn record(&self, uncompressed: usize, compressed: usize) {
        let (u, c) = (uncompressed as u64, compressed as u64);
        self.uncompressed.fetch_add(u, Ordering::Relaxed);
        self.compressed.fetch_add(c, Ordering::Relaxed);
        if let Some(budget) = &self.budget {
            budget.uncompressed.fetch_add(u, Ordering::Relaxed);
            budget.compressed.fetch_add(c, Ordering::Relaxed);
        }
    }

    /// Payload bytes compression saved on this connection's sends so far.
    pub(crate) fn bytes_saved(&self) -> u64 {
        self.uncompressed
            .load(Ordering::Relaxed)
            .saturating_sub(self.compressed.load(Ordering::Relaxed))
    }

    /// The connection has finished: give its share of the budget back and
    /// free its own compressor (unless a send holds it right now; that send
    /// fails, and the compressor goes with the connection).
    pub(crate) fn release(&self) {
        drop(lock(&self.reservation).take());
        if let SendCodec::Own(own) = &self.codec
            && let Some(mut own) = own.try_lock()
        {
            own.compressor = None;
        }
    }
}

/// permessage-deflate agreed for a new connection: the send side's state
/// and the receiver's decompressor.
#[derive(Debug)]
pub(crate) struct Negotiated {
    pub(crate) state: DeflateState,
    pub(crate) decompressor: Decompressor,
}

impl Negotiated {
    /// Client side: what the server accepted, with the client's own
    /// compressor and decompressor (a client has no budget).
    pub(crate) fn client(
        params: DeflateParams,
        config: &DeflateConfig,
    ) -> Result<Negotiated, DeflateSettingError> {
        let compressor = params.compressor(Role::Client, config.level)?;
        let decompressor = params.decompressor(Role::Client)?;
        let codec = SendCodec::Own(Box::new(futures::lock::Mutex::new(OwnCompressor {
            compressor: Some(compressor),
            dirty: false,
            last_used: None,
        })));
        Ok(Negotiated {
            state: DeflateState::new(params, Role::Client, config.threshold, codec, None),
            decompressor,
        })
    }

    /// The extension as agreed, for the 101 response and
    /// [`Connection::extensions`](crate::Connection::extensions).
    pub(crate) fn response_header(&self) -> String {
        self.state.params.response_header()
    }
}

/// Server side: accepts the first permessage-deflate offer in `offers` that
/// can be honoured, within `budget` (see
/// [`Config::deflate_memory_budget`] for the tiers). `None` answers without
/// the extension.
pub(crate) fn negotiate_server(
    offers: &[ExtensionOffer],
    config: &Config,
    budget: &Arc<DeflateBudget>,
) -> Option<Negotiated> {
    let deflate = &config.deflate;
    if !deflate.enabled
        || !offers
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
    {
        return None;
    }
    let params = negotiate_deflate(offers, deflate, true)?;
    if !params.server_no_context_takeover {
        if let Some(negotiated) = own(params, config, budget) {
            return Some(negotiated);
        }
        // Tier 2: no context takeover either way, the shared pool.
        let params = negotiate_deflate(offers, deflate, false)?;
        return pooled(params, config, budget);
    }
    // No context takeover on our side anyway (asked by the client, or
    // configured): an own compressor would buy nothing over the pool.
    pooled(params, config, budget)
}

/// Server side, for parameters already agreed (the application's raw 101
/// states them): the codec, within `budget`. An own compressor when the
/// server keeps its context and it fits; else the shared pool, which is
/// valid whatever was agreed (a fresh context for every message is always
/// readable by the client, and the pool compresses within the agreed
/// window); `None` when even that does not fit.
pub(crate) fn configure_server(
    params: DeflateParams,
    config: &Config,
    budget: &Arc<DeflateBudget>,
) -> Option<Negotiated> {
    if !params.server_no_context_takeover
        && let Some(negotiated) = own(params, config, budget)
    {
        return Some(negotiated);
    }
    pooled(params, config, budget)
}

/// Tier 1: an own compressor and decompressor, within half the budget;
/// `None` when they do not fit (or cannot be made).
fn own(params: DeflateParams, config: &Config, budget: &Arc<DeflateBudget>) -> Option<Negotiated> {
    let deflate = &config.deflate;
    let need = params.memory(Role::Server);
    if !budget.try_reserve(need, config.deflate_memory_budget / 2) {
        return None;
    }
    let reservation = Reservation::new(budget, need, false);
    match (
        params.compressor(Role::Server, deflate.level),
        params.decompressor(Role::Server),
    ) {
        (Ok(compressor), Ok(decompressor)) => {
            let codec = SendCodec::Own(Box::new(futures::lock::Mutex::new(OwnCompressor {
                compressor: Some(compressor),
                dirty: false,
                last_used: None,
            })));
            Some(Negotiated {
                state: DeflateState::new(
                    params,
                    Role::Server,
                    deflate.threshold,
                    codec,
                    Some(reservation),
                ),
                decompressor,
            })
        }
        (Err(e), _) | (_, Err(e)) => {
            log::warn!("permessage-deflate: no own compressor: {e}");
            None
        }
    }
}

/// Tier 2: a decompressor of its own, compressors from the pool; or
/// declined (tier 3) when even that does not fit.
fn pooled(
    params: DeflateParams,
    config: &Config,
    budget: &Arc<DeflateBudget>,
) -> Option<Negotiated> {
    let limit = config.deflate_memory_budget;
    let pool = budget.pool(config);
    let Some(pool) = pool.filter(|_| budget.try_reserve(DECOMPRESSOR_MEMORY, limit)) else {
        budget.declined.fetch_add(1, Ordering::Relaxed);
        log::debug!("permessage-deflate declined: compression memory budget full");
        return None;
    };
    let reservation = Reservation::new(budget, DECOMPRESSOR_MEMORY, true);
    let decompressor = params.decompressor(Role::Server).ok()?;
    Some(Negotiated {
        state: DeflateState::new(
            params,
            Role::Server,
            config.deflate.threshold,
            SendCodec::Pool(pool),
            Some(reservation),
        ),
        decompressor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::parse_extensions;

    fn config(budget: usize) -> Config {
        Config {
            deflate_memory_budget: budget,
            ..Config::default()
        }
    }

    fn offer(header: &str) -> Vec<ExtensionOffer> {
        parse_extensions(header).unwrap()
    }

    #[test]
    fn tiers_own_then_pooled_then_declined() {
        let own = compressor_memory(15) + DECOMPRESSOR_MEMORY;
        let pool_size = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_POOL);
        let pool = pool_size * compressor_memory(15);
        // Room for a few own codecs in the first half, then the pool and
        // some decompressors.
        let limit = 4 * own + pool + 4 * DECOMPRESSOR_MEMORY;
        let config = config(limit);
        let budget = Arc::new(DeflateBudget::default());
        let offers = offer("permessage-deflate; client_max_window_bits");
        let mut kept = Vec::new();
        let mut tiers = Vec::new();
        for _ in 0..200 {
            match negotiate_server(&offers, &config, &budget) {
                Some(n) => {
                    tiers.push(match n.state.codec {
                        SendCodec::Own(_) => "own",
                        SendCodec::Pool(_) => "pool",
                    });
                    kept.push(n);
                }
                None => {
                    tiers.push("declined");
                    break;
                }
            }
            assert!(budget.counters().memory <= limit);
        }
        let owns = tiers.iter().filter(|t| **t == "own").count();
        assert!(owns >= 1 && tiers[..owns].iter().all(|t| *t == "own"));
        assert_eq!(tiers.last(), Some(&"declined"));
        assert!(tiers.contains(&"pool"));
        for n in &kept {
            let header = n.response_header();
            match n.state.codec {
                SendCodec::Own(_) => assert_eq!(header, "permessage-deflate"),
                SendCodec::Pool(_) => assert_eq!(
                    header,
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
                ),
            }
        }
        let c = budget.counters();
        assert_eq!(c.connections, kept.len());
        assert_eq!(c.pooled, kept.len() - owns);
        assert_eq!(c.declined, 1);
        // Everything but the pool comes back.
        drop(kept);
        let c = budget.counters();
        assert_eq!((c.connections, c.pooled, c.memory), (0, 0, pool));
    }

    #[test]
    fn client_asking_no_context_takeover_shares_the_pool() {
        let budget = Arc::new(DeflateBudget::default());
        let offers = offer("permessage-deflate; server_no_context_takeover");
        let n = negotiate_server(&offers, &Config::default(), &budget).unwrap();
        assert!(matches!(n.state.codec, SendCodec::Pool(_)));
        // The client was not asked to drop its context.
        assert_eq!(
            n.response_header(),
            "permessage-deflate; server_no_context_takeover"
        );
    }

    #[test]
    fn disabled_unoffered_or_zero_budget_declines() {
        let budget = Arc::new(DeflateBudget::default());
        let offers = offer("permessage-deflate");
        let mut off = Config::default();
        off.deflate.enabled = false;
        assert!(negotiate_server(&offers, &off, &budget).is_none());
        assert!(negotiate_server(&offer("x-foo"), &Config::default(), &budget).is_none());
        assert!(negotiate_server(&offers, &config(0), &budget).is_none());
        assert_eq!(budget.counters().declined, 1);
        assert_eq!(budget.counters().memory, 0);
        // An offer we cannot honour is no budget matter.
        let eight = offer("permessage-deflate; server_max_window_bits=8");
        assert!(negotiate_server(&eight, &Config::default(), &budget).is_none());
        assert_eq!(budget.counters().declined, 1);
    }

    #[test]
    fn release_gives_back_and_frees_the_compressor() {
        let budget = Arc::new(DeflateBudget::default());
        let n =
            negotiate_server(&offer("permessage-deflate"), &Config::default(), &budget).unwrap();
        assert_eq!(
            budget.counters().memory,
            n.state.params.memory(Role::Server)
        );
        n.state.record(1000, 100);
        assert_eq!(n.state.bytes_saved(), 900);
        assert_eq!(budget.counters().bytes_saved, 900);
        n.state.release();
        assert_eq!(budget.counters().memory, 0);
        let SendCodec::Own(own) = &n.state.codec else {
            panic!("own codec expected");
        };
        assert!(own.try_lock().unwrap().compressor.is_none());
        n.state.release();
        assert_eq!(budget.counters().connections, 0);
    }
}
