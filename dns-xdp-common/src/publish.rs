//! Atomic publication: the agent writes a whole new generation of answers, then flips
//! `PublishState::generation` in one map update. The program reads the generation once per
//! packet, so each query sees the old answer set or the new one, never a mix.

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PublishState {
    /// Generation of the live answer set. 0 means nothing is published: every query passes up.
    pub generation: u32,
    /// EDNS UDP payload size the server advertises in its OPT record.
    pub edns_payload: u16,
    pub _pad: u16,
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for PublishState {}
