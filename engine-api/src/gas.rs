use crate::Gas;

/// The gas meter every engine uses: a limit and what has been used, with checked arithmetic.
///
/// Running out is final: the failing [`consume`](GasMeter::consume) sets `used` to the limit,
/// so a call that runs out of gas is always charged exactly its limit, whatever the engine.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GasMeter {
    limit: Gas,
    used: Gas,
}

/// The error of a [`GasMeter`] that cannot pay for a charge.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("out of gas")]
pub struct OutOfGas;

impl GasMeter {
    /// A meter with `limit` gas and nothing used.
    pub const fn new(limit: Gas) -> Self {
        GasMeter { limit, used: 0 }
    }

    /// Charges `amount`.
    ///
    /// # Errors
    /// [`OutOfGas`] when fewer than `amount` remain; the meter is then exhausted
    /// (`used == limit`).
    #[inline]
    pub fn consume(&mut self, amount: Gas) -> Result<(), OutOfGas> {
        match self.used.checked_add(amount) {
            Some(used) if used <= self.limit => {
                self.used = used;
                Ok(())
            }
            _ => {
                self.used = self.limit;
                Err(OutOfGas)
            }
        }
    }

    /// Sets the gas used so far, for engines that meter internally (an instruction counter,
    /// wasm fuel) and settle with the meter at syscall boundaries.
    ///
    /// # Errors
    /// [`OutOfGas`] if `used` exceeds the limit; the meter is then exhausted.
    #[inline]
    pub fn set_used(&mut self, used: Gas) -> Result<(), OutOfGas> {
        if used > self.limit {
            self.used = self.limit;
            return Err(OutOfGas);
        }
        self.used = used;
        Ok(())
    }

    /// Uses up all remaining gas.
    pub fn exhaust(&mut self) {
        self.used = self.limit;
    }

    /// The limit the meter was created with.
    pub const fn limit(&self) -> Gas {
        self.limit
    }

    /// Gas used so far.
    pub const fn used(&self) -> Gas {
        self.used
    }

    /// Gas still available.
    pub const fn remaining(&self) -> Gas {
        // `used <= limit` is an invariant of every method.
        self.limit.saturating_sub(self.used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflowing_charges_exhaust_instead_of_wrapping() {
        let mut g = GasMeter::new(u64::MAX);
        g.consume(u64::MAX - 1).unwrap();
        assert_eq!(g.consume(u64::MAX), Err(OutOfGas));
        assert_eq!(g.used(), u64::MAX);
        assert_eq!(g.remaining(), 0);
    }

    #[test]
    fn set_used_respects_the_limit() {
        let mut g = GasMeter::new(100);
        g.set_used(40).unwrap();
        assert_eq!(g.remaining(), 60);
        assert_eq!(g.set_used(101), Err(OutOfGas));
        assert_eq!(g.used(), 100);
    }
}
