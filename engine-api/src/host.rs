use crate::{CallRequest, CallResult, Gas, Hash, Height};

/// Why the host refused a request of a contract.
///
/// The first two variants are the contract's fault and become a trap
/// ([`Trap::Syscall`](crate::Trap::Syscall)); [`HostError::Fault`] is the node's and becomes an
/// [`EngineFault`](crate::EngineFault).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum HostError {
    /// A documented per-call limit was reached (events, logs, return data, ...).
    #[error("{what} limit of {limit} exceeded")]
    LimitExceeded {
        /// What is limited, e.g. `"events per call"`.
        what: &'static str,
        /// The documented limit.
        limit: u64,
    },
    /// The request itself is invalid (e.g. an asset name that is not UTF-8).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The node failed (database error, broken invariant). Not the contract's fault.
    #[error("host fault: {0}")]
    Fault(String),
}

/// Everything a contract may ask of the chain: the services behind every syscall of ABI.md.
///
/// The host implements it once per call over a journal of the chain state; engines see the
/// chain only through it, and syscall bodies (crate `tos-syscalls`) are written against it
/// plus [`GuestMemory`](crate::GuestMemory). All state changes are staged: the host applies
/// them only when the call succeeds.
///
/// Gas is *not* charged here: syscall bodies charge before they call in.
pub trait HostAbi {
    /// The input of the call (ABI.md layout: 8-byte header, then params): the only place the
    /// call's params reach an engine ([`PreparedModule::run`](crate::PreparedModule::run)).
    fn input(&self) -> &[u8];
    /// The address of the running contract.
    fn contract_hash(&self) -> Hash;
    /// The hash of the transaction being executed.
    fn tx_hash(&self) -> Hash;
    /// The account that signed the transaction (the caller).
    fn tx_source(&self) -> Hash;
    /// The hash of the block being built.
    fn block_hash(&self) -> Hash;
    /// The height of the block being built.
    fn block_height(&self) -> Height;
    /// The timestamp of the block being built, in seconds since the Unix epoch (ABI v2).
    fn block_timestamp(&self) -> u64;
    /// Who made this call (ABI v2): the calling contract, or the transaction's source for a
    /// top-level call.
    fn caller(&self) -> Hash;
    /// The amount of `asset` deposited with this call (ABI v2); 0 if none.
    fn call_deposit(&self, asset: &Hash) -> u64;

    /// Runs a call of another contract while the running one waits (ABI v2 `tos_call`),
    /// offering it `gas_limit` gas (the syscall body has already capped it at what the caller
    /// has left). The callee's effects stay in this call's frame when it exits with 0 and are
    /// discarded otherwise; the gas it used is in the result, for the caller's meter.
    ///
    /// # Errors
    /// [`HostError::Fault`] when the node failed; a refusal or a failing callee is a
    /// [`CallResult`], not an error.
    fn call(&mut self, request: &CallRequest, gas_limit: Gas) -> Result<CallResult, HostError>;

    /// The return data of the last [`call`](HostAbi::call) this frame made, or `None` when it
    /// has made none or the last one did not exit (refused or trapped).
    fn last_return_data(&self) -> Option<&[u8]>;

    /// Records a log line of the call.
    ///
    /// # Errors
    /// [`HostError::LimitExceeded`] past the per-call log limit.
    fn log(&mut self, message: &[u8]) -> Result<(), HostError>;

    /// Sets the call's return data, replacing any earlier value. The bytes are handed over,
    /// not copied again.
    ///
    /// # Errors
    /// [`HostError::LimitExceeded`] past the return data size limit.
    fn set_return_data(&mut self, data: Vec<u8>) -> Result<(), HostError>;

    /// Takes the return data set so far (engines put it in the [`Outcome`](crate::Outcome)).
    fn take_return_data(&mut self) -> Vec<u8>;

    /// Loads the value stored under `key` in the running contract's storage.
    ///
    /// # Errors
    /// [`HostError::Fault`] when the state cannot be read.
    fn storage_load(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, HostError>;

    /// Stores `value` under `key` in the running contract's storage. The bytes are handed
    /// over, not copied again.
    ///
    /// # Errors
    /// [`HostError::Fault`] when the state cannot be read.
    fn storage_store(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), HostError>;

    /// Deletes `key`; returns whether it existed.
    ///
    /// # Errors
    /// [`HostError::Fault`] when the state cannot be read.
    fn storage_delete(&mut self, key: &[u8]) -> Result<bool, HostError>;

    /// The running contract's balance of `asset`.
    ///
    /// # Errors
    /// [`HostError::Fault`] when the state cannot be read.
    fn balance(&mut self, asset: &Hash) -> Result<u64, HostError>;

    /// Moves `amount` of `asset` from the running contract to `to`. Returns `false` (and moves
    /// nothing) when the contract's balance is too low.
    ///
    /// # Errors
    /// [`HostError::LimitExceeded`] when the receiver's balance would overflow;
    /// [`HostError::Fault`] when the state cannot be read.
    fn transfer(&mut self, to: &Hash, asset: &Hash, amount: u64) -> Result<bool, HostError>;

    /// Destroys `amount` of `asset` from the running contract's balance. Returns `false` (and
    /// burns nothing) when the balance is too low.
    ///
    /// # Errors
    /// [`HostError::Fault`] when the state cannot be read.
    fn burn(&mut self, asset: &Hash, amount: u64) -> Result<bool, HostError>;

    /// Creates an asset owned by the running contract. Returns its id and whether it was
    /// created (`false` when an asset with that id already exists).
    ///
    /// # Errors
    /// [`HostError::InvalidArgument`] for a name the host refuses.
    fn asset_create(&mut self, name: &[u8], decimals: u8) -> Result<(Hash, bool), HostError>;

    /// Mints `amount` of `asset` to the running contract's balance. Returns `false` (and mints
    /// nothing) when the contract did not create the asset or the supply would overflow.
    ///
    /// # Errors
    /// [`HostError::Fault`] when the state cannot be read.
    fn asset_mint(&mut self, asset: &Hash, amount: u64) -> Result<bool, HostError>;

    /// Emits an event of the call.
    ///
    /// # Errors
    /// [`HostError::LimitExceeded`] past the per-call event limit.
    fn fire_event(&mut self, id: u64, data: &[u8]) -> Result<(), HostError>;
}
