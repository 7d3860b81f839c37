;; A 2-of-3 escrow, the contract of issue 14's scenario, for the test kit's own test
;; (escrow.rs). WAT, so the test needs no C toolchain: `tos_testkit::file` assembles it.
;;
;;   hook 0   constructor: params buyer (32) ‖ seller (32) ‖ arbiter (32); store "parties"
;;            exit 1 if params are not 96 bytes
;;   entry 0  fund: credit the native deposit; event 1 = amount (u64); return data = the
;;            escrow's balance (u64). exit 1 without a deposit, 4 once settled
;;   entry 1  approve release to the seller   } the caller (tos_get_caller) must be a party
;;   entry 2  approve refund to the buyer     } (exit 2 otherwise); its vote is stored under
;;            [b'r' | b'f', index]; return data = the votes of that kind (u64). At two votes
;;            the whole balance goes to the payee, "done" is stored, event 2 (release) or
;;            3 (refund) = payee ‖ amount. exit 3 if the transfer fails, 4 once settled
;;
;; Memory: input at 0, parties at 264 (8 + the params' offset), caller at 400, native asset
;; (zeros) at 448, vote key at 512, u64 scratch at 520, event data at 528, strings at 600.
(module
  (import "env" "tos_get_input" (func $input (param i64 i64) (result i64)))
  (import "env" "tos_storage_store" (func $store (param i64 i64 i64 i64) (result i64)))
  (import "env" "tos_storage_load" (func $load (param i64 i64 i64 i64) (result i64)))
  (import "env" "tos_get_caller" (func $caller (param i64) (result i64)))
  (import "env" "tos_get_call_deposit" (func $deposit (param i64) (result i64)))
  (import "env" "tos_get_balance" (func $balance (param i64 i64) (result i64)))
  (import "env" "tos_transfer" (func $transfer (param i64 i64 i64) (result i64)))
  (import "env" "tos_fire_event" (func $event (param i64 i64 i64) (result i64)))
  (import "env" "tos_set_return_data" (func $ret (param i64 i64) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 600) "parties")
  (data (i32.const 608) "done")

  (func (export "hook_0") (result i64)
    (if (i64.ne (call $input (i64.const 0) (i64.const 256)) (i64.const 104))
      (then (return (i64.const 1))))
    (drop (call $store (i64.const 600) (i64.const 7) (i64.const 8) (i64.const 96)))
    (i64.const 0))

  (func $settled (result i32)
    (i64.ne (call $load (i64.const 608) (i64.const 4) (i64.const 520) (i64.const 8))
            (i64.const -1)))

  (func $return_u64 (param $v i64)
    (i64.store (i32.const 520) (local.get $v))
    (drop (call $ret (i64.const 520) (i64.const 8))))

  (func $eq32 (param $a i32) (param $b i32) (result i32)
    (i32.and
      (i32.and (i64.eq (i64.load (local.get $a)) (i64.load (local.get $b)))
               (i64.eq (i64.load offset=8 (local.get $a)) (i64.load offset=8 (local.get $b))))
      (i32.and (i64.eq (i64.load offset=16 (local.get $a)) (i64.load offset=16 (local.get $b)))
               (i64.eq (i64.load offset=24 (local.get $a)) (i64.load offset=24 (local.get $b))))))

  (func (export "entry_0") (result i64)
    (local $amount i64)
    (if (call $settled) (then (return (i64.const 4))))
    (local.set $amount (call $deposit (i64.const 448)))
    (if (i64.eqz (local.get $amount)) (then (return (i64.const 1))))
    (i64.store (i32.const 520) (local.get $amount))
    (drop (call $event (i64.const 1) (i64.const 520) (i64.const 8)))
    (drop (call $balance (i64.const 448) (i64.const 520)))
    (drop (call $ret (i64.const 520) (i64.const 8)))
    (i64.const 0))

  ;; One vote of `kind` (b'r' or b'f'); at two, pay the party at `payee` with event `ev`.
  (func $vote (param $kind i32) (param $payee i32) (param $ev i64) (result i64)
    (local $i i32) (local $who i32) (local $count i64) (local $bal i64)
    (if (call $settled) (then (return (i64.const 4))))
    (drop (call $load (i64.const 600) (i64.const 7) (i64.const 264) (i64.const 96)))
    (drop (call $caller (i64.const 400)))
    (local.set $who (i32.const -1))
    (block $found
      (loop $scan
        (br_if $found (i32.ge_u (local.get $i) (i32.const 3)))
        (if (call $eq32 (i32.add (i32.const 264) (i32.mul (local.get $i) (i32.const 32)))
                        (i32.const 400))
          (then (local.set $who (local.get $i)) (br $found)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (if (i32.eq (local.get $who) (i32.const -1)) (then (return (i64.const 2))))
    (i32.store8 (i32.const 512) (local.get $kind))
    (i32.store8 (i32.const 513) (local.get $who))
    (i32.store8 (i32.const 514) (i32.const 1))
    (drop (call $store (i64.const 512) (i64.const 2) (i64.const 514) (i64.const 1)))
    (local.set $i (i32.const 0))
    (loop $votes
      (i32.store8 (i32.const 513) (local.get $i))
      (if (i64.ne (call $load (i64.const 512) (i64.const 2) (i64.const 515) (i64.const 1))
                  (i64.const -1))
        (then (local.set $count (i64.add (local.get $count) (i64.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $votes (i32.lt_u (local.get $i) (i32.const 3))))
    (if (i64.ge_u (local.get $count) (i64.const 2))
      (then
        (drop (call $balance (i64.const 448) (i64.const 520)))
        (local.set $bal (i64.load (i32.const 520)))
        (if (i64.ne (call $transfer (i64.extend_i32_u (local.get $payee)) (local.get $bal)
                                    (i64.const 448))
                    (i64.const 0))
          (then (return (i64.const 3))))
        (drop (call $store (i64.const 608) (i64.const 4) (i64.const 514) (i64.const 1)))
        (i64.store (i32.const 528) (i64.load (local.get $payee)))
        (i64.store (i32.const 536) (i64.load offset=8 (local.get $payee)))
        (i64.store (i32.const 544) (i64.load offset=16 (local.get $payee)))
        (i64.store (i32.const 552) (i64.load offset=24 (local.get $payee)))
        (i64.store (i32.const 560) (local.get $bal))
        (drop (call $event (local.get $ev) (i64.const 528) (i64.const 40)))))
    (call $return_u64 (local.get $count))
    (i64.const 0))

  (func (export "entry_1") (result i64) (call $vote (i32.const 114) (i32.const 296) (i64.const 2)))
  (func (export "entry_2") (result i64) (call $vote (i32.const 102) (i32.const 264) (i64.const 3)))
)
