//! `mpirun -np N convlab train ...`: synchronous data-parallel training over MPI (cargo
//! feature `distributed`, through the `mpi` crate over Open MPI or MPICH).
//!
//! ```text
//! cargo build --release -p convlab-cli --features distributed
//! mpirun -np 2 target/release/convlab train --model lenet5 --dataset mnist --threads 1 --out runs/dp
//! ```
//!
//! Every rank runs the same `convlab train` on its shard of each global batch
//! (`convlab::train::collective` explains the arithmetic); rank 0 alone prints, evaluates and
//! writes `--out`; every rank reads `--resume`. A rank that fails aborts the whole job
//! (`MPI_Abort`), and a rank that dies is noticed by `mpirun`, which stops the others and
//! names the rank, so no rank waits forever in an all-reduce.
//!
//! Without the feature, a `convlab` started by `mpirun` with more than one rank refuses to
//! train (N copies of a single-process run would overwrite each other's files).

use anyhow::{bail, Result};

/// The world size a process launcher announces in the environment (Open MPI, MPICH/PMI,
/// PMIx), if any.
pub fn launcher_world_size() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"].iter().find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// The ranks of this run: `None` for a single process.
pub fn start() -> Result<Option<Ranks>> {
    match launcher_world_size() {
        Some(n) if n > 1 => imp::start(n),
        _ => Ok(None),
    }
}

pub use imp::Ranks;

#[cfg(feature = "distributed")]
mod imp {
    use anyhow::{anyhow, Result};
    use convlab::train::collective::Collective;
    use convlab::Error;
    use mpi::collective::SystemOperation;
    use mpi::environment::{Threading, Universe};
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;

    /// MPI, initialized: the universe (finalized when dropped, on the main thread) and the
    /// world communicator.
    pub struct Ranks {
        _universe: Universe,
        world: SimpleCommunicator,
    }

    pub fn start(_n: usize) -> Result<Option<Ranks>> {
        // Serialized: the training loop calls MPI from the rayon pool's thread, never from two
        // threads at once.
        let (universe, level) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| anyhow!("MPI is already initialized"))?;
        if level < Threading::Serialized {
            return Err(anyhow!("the MPI library offers thread level {level:?}; MPI_THREAD_SERIALIZED is needed"));
        }
        let world = universe.world();
        Ok(Some(Ranks { _universe: universe, world }))
    }

    impl Ranks {
        pub fn rank(&self) -> usize {
            self.world.rank() as usize
        }

        pub fn size(&self) -> usize {
            self.world.size() as usize
        }

        /// The collective the trainer uses.
        pub fn collective(&self) -> Box<dyn Collective> {
            Box::new(Mpi { world: self.world.duplicate() })
        }

        /// Ends the whole job: every rank exits with `code`.
        pub fn abort(&self, code: i32) -> ! {
            self.world.abort(code)
        }
    }

    struct Mpi {
        world: SimpleCommunicator,
    }

    // SAFETY: MPI was initialized with MPI_THREAD_SERIALIZED, and one `Mpi` is used by one
    // thread at a time (the trainer's), which is all that level requires.
    unsafe impl Send for Mpi {}

    impl Collective for Mpi {
        fn rank(&self) -> usize {
            self.world.rank() as usize
        }

        fn size(&self) -> usize {
            self.world.size() as usize
        }

        fn allreduce_sum(&mut self, buf: &mut [f32]) -> Result<(), Error> {
            let send = buf.to_vec();
            self.world.all_reduce_into(&send[..], buf, SystemOperation::sum());
            Ok(())
        }

        fn allreduce_sum_f64(&mut self, buf: &mut [f64]) -> Result<(), Error> {
            let send = buf.to_vec();
            self.world.all_reduce_into(&send[..], buf, SystemOperation::sum());
            Ok(())
        }
    }
}

#[cfg(not(feature = "distributed"))]
mod imp {
    use anyhow::Result;

    /// Never made: the build has no MPI.
    pub enum Ranks {}

    pub fn start(n: usize) -> Result<Option<Ranks>> {
        super::refuse(n)
    }

    impl Ranks {
        pub fn rank(&self) -> usize {
            match *self {}
        }
        pub fn size(&self) -> usize {
            match *self {}
        }
        pub fn collective(&self) -> Box<dyn convlab::train::collective::Collective> {
            match *self {}
        }
        pub fn abort(&self, _code: i32) -> ! {
            match *self {}
        }
    }
}

#[allow(dead_code)]
fn refuse(n: usize) -> Result<Option<Ranks>> {
    bail!(
        "started by an MPI launcher with {n} ranks, but this convlab was built without MPI: \
         build it with `cargo build --release -p convlab-cli --features distributed` (see the README's \
         \"Training on several processes\"), or run it without mpirun"
    )
}
