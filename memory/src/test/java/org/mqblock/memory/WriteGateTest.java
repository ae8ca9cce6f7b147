package org.mqblock.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mqblock.memory.TargetPage.TARGET_PAGE_SIZE;

import java.time.Duration;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.core.loop.BottomHalf;
import org.mqblock.core.loop.IOThread;

/** The writer barrier: pause stops every RAM writer, waits for writes under way, and never deadlocks with contexts. */
class WriteGateTest {

    private RamRegion ram;
    private AddressSpace as;
    private WriteGate gate;

    @BeforeEach
    void setUp() {
        ram = new RamRegion("ram", 64 * TARGET_PAGE_SIZE);
        as = new AddressSpace("sys");
        as.map(0, ram);
        gate = as.writeGate();
    }

    @AfterEach
    void tearDown() {
        if (gate.isPaused()) {
            gate.resume();
        }
        as.unmap(ram);
        ram.close();
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void pauseWaitsForAWritableMappingAndThenNothingChanges() throws Exception {
        CountDownLatch mapped = new CountDownLatch(1);
        CountDownLatch finish = new CountDownLatch(1);
        Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
        Thread device = new Thread(() -> {
            try {
                Dma dma = Dma.forCpu(as);
                DmaMapping m = new DmaMapping();
                dma.map(0x2000, 64, true, m);
                mapped.countDown();
                TestSupport.await(finish);
                m.buffer().putLong(0, 0xfeed);
                dma.writeU64(0x3000, 0xbeef); // nested inside the mapping: does not park
                dma.unmap(m, 8);
            } catch (Throwable e) {
                errors.add(e);
                mapped.countDown();
            }
        }, "device-with-mapping");
        device.start();
        mapped.await();
        AtomicBoolean pauseReturned = new AtomicBoolean();
        Thread pauser = new Thread(() -> {
            gate.pause();
            pauseReturned.set(true);
        }, "pauser");
        pauser.start();
        while (!gate.isPaused()) {
            Thread.onSpinWait();
        }
        assertFalse(pauseReturned.get(), "pause returned while a writable mapping was outstanding");
        finish.countDown();
        pauser.join();
        device.join();
        assertTrue(errors.isEmpty(), () -> "the device failed: " + errors);
        assertTrue(pauseReturned.get() && gate.isPaused(), "the pause completed once the mapping was gone");
        assertEquals(0xfeed, ram.getU64(0x2000), "the mapping's write landed before the pause completed");
        assertEquals(0xbeef, ram.getU64(0x3000));
        gate.resume();
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void writersParkWhilePausedAndGoOnAfterResume() throws Exception {
        AtomicLong completed = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
        Thread vcpu = new Thread(() -> {
            try {
                Dma dma = Dma.forCpu(as);
                for (long i = 1; !stop.get(); i++) {
                    dma.writeU64((i % 64) * TARGET_PAGE_SIZE, i); // write i lands in page i % 64
                    completed.set(i);
                }
            } catch (Throwable e) {
                errors.add(e);
            }
        }, "vcpu");
        vcpu.start();
        while (completed.get() < 1000) {
            Thread.onSpinWait();
        }
        gate.pause();
        long atPause = completed.get();
        byte[] snapshot = new byte[(int) ram.size()];
        ram.getBytes(0, snapshot, 0, snapshot.length);
        while (vcpu.getState() != Thread.State.WAITING) {
            assertTrue(vcpu.isAlive(), () -> "the writer died: " + errors);
            Thread.onSpinWait(); // the writer reaches the gate and parks
        }
        long parked = completed.get(); // final while paused: the writer is parked in write parked + 1
        assertTrue(parked - atPause <= 1, "writes " + (atPause + 1) + ".." + parked + " completed while paused"
                + " (only the one that left the gate before the pause may be counted after it)");
        byte[] after = new byte[(int) ram.size()];
        ram.getBytes(0, after, 0, after.length);
        assertTrue(java.util.Arrays.equals(snapshot, after), "guest RAM changed while paused");
        assertEquals(parked, ram.getU64((parked % 64) * TARGET_PAGE_SIZE), "the last write before the pause landed");
        assertEquals(Math.max(0, parked + 1 - 64), ram.getU64(((parked + 1) % 64) * TARGET_PAGE_SIZE),
                "the parked write did not land");
        assertTrue(gate.parkCount() >= 1);
        gate.resume();
        while (completed.get() < parked + 1000) {
            assertTrue(vcpu.isAlive(), () -> "the writer died: " + errors);
            Thread.onSpinWait();
        }
        stop.set(true);
        vcpu.join();
        assertTrue(errors.isEmpty(), () -> "the writer failed: " + errors);
    }

    /**
     * The situation the release-while-parked rule exists for: a thread holding a writable mapping
     * (so the pause waits for it) needs the context of a device whose thread is parked at the
     * gate. The parked device has released its context, so the mapping holder gets it, finishes,
     * and the pause completes.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aParkedDeviceReleasesItsContextSoThePauseCompletes() throws Exception {
        try (IOThread io = IOThread.start("io-dev", IOThread.UNPINNED)) {
            AtomicLong regWrites = new AtomicLong();
            as.map(0x100000, new MmioRegion("dev-regs", 0x100, io.context(), new ReentrancyGuard("dev"),
                    TestSupport.writeOnly((o, v) -> regWrites.incrementAndGet())));
            Dma devDma = new Dma(as, io.context(), new ReentrancyGuard("dev"), DispatchPolicy.RELEASE_REACQUIRE);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong devWrites = new AtomicLong();
            BottomHalf[] bh = new BottomHalf[1];
            bh[0] = io.context().newBottomHalf("dev-writer", () -> {
                for (int i = 0; i < 16; i++) {
                    devDma.writeU32(0x8000 + 4L * i, i);
                    devWrites.incrementAndGet();
                }
                if (!stop.get()) {
                    bh[0].schedule();
                }
            });
            bh[0].schedule();
            while (devWrites.get() < 100) {
                Thread.onSpinWait();
            }

            Dma cpu = Dma.forCpu(as);
            DmaMapping m = new DmaMapping();
            cpu.map(0x1000, 16, true, m); // this thread is now inside the gate
            Thread pauser = new Thread(gate::pause, "pauser");
            long parks = gate.parkCount(); // before the pause: the device may park at once
            pauser.start();
            while (gate.parkCount() == parks) {
                Thread.onSpinWait(); // the device thread reaches the paused gate
            }
            cpu.writeU32(0x100000, 1); // needs the device's context: free, since its thread parked
            assertEquals(1, regWrites.get());
            cpu.unmap(m, 16);
            pauser.join();
            assertTrue(gate.isPaused());
            stop.set(true);
            gate.resume();
            CountDownLatch drained = new CountDownLatch(1);
            io.context().schedule(drained::countDown);
            drained.await();
            bh[0].delete();
            assertEquals(0, io.failureCount());
        }
    }

    /**
     * A grace period waits for a write under way (held open here through the gate's own entry
     * points, since a real write lasts a memcpy) but not for a writable mapping merely held: a
     * mapping reads the dirty-log mask at unmap, which is a write of its own.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void synchronizeWaitsForWritesUnderWayButNotForHeldMappings() throws Exception {
        gate.synchronize(); // nobody inside: returns at once
        Dma dma = Dma.forCpu(as);
        DmaMapping m = new DmaMapping();
        dma.map(0, 8, true, m);
        AtomicBoolean firstSynced = new AtomicBoolean();
        Thread mapper = new Thread(() -> {
            gate.synchronize();
            firstSynced.set(true);
        }, "syncer-1");
        mapper.start();
        mapper.join();
        assertTrue(firstSynced.get(), "synchronize returned although this thread holds a writable mapping");
        dma.unmap(m, 8);

        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch finish = new CountDownLatch(1);
        Thread writer = new Thread(() -> {
            WriteGate.Slot s = gate.slot();
            gate.enterWrite(s, null);
            inside.countDown();
            TestSupport.await(finish);
            gate.exitWrite(s);
        }, "slow-writer");
        writer.start();
        inside.await();
        AtomicBoolean synced = new AtomicBoolean();
        Thread syncer = new Thread(() -> {
            gate.synchronize();
            synced.set(true);
        }, "syncer-2");
        syncer.start();
        while (syncer.getState() != Thread.State.TIMED_WAITING && syncer.getState() != Thread.State.TERMINATED) {
            Thread.onSpinWait();
        }
        assertFalse(synced.get(), "a grace period ended while a write that began before it was open");
        finish.countDown();
        syncer.join();
        assertTrue(synced.get());
        writer.join();
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void pauseGivesUpAfterItsTimeoutNamingTheThreadsInside() throws Exception {
        CountDownLatch mapped = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread holder = new Thread(() -> {
            Dma dma = Dma.forCpu(as);
            DmaMapping m = new DmaMapping();
            dma.map(0, 8, true, m);
            mapped.countDown();
            TestSupport.await(release);
            dma.unmap(m, 0);
            dma.writeU8(0, 1); // the gate runs again: this does not park
        }, "stuck-holder");
        holder.start();
        mapped.await();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> gate.pause(Duration.ofMillis(50)));
        assertTrue(e.getMessage().contains("stuck-holder (holding 1 writable mapping)"), e.getMessage());
        assertFalse(gate.isPaused(), "a failed pause leaves the gate running");
        release.countDown();
        holder.join();
        assertEquals(1, ram.getU8(0));
    }

    @Test
    void aThreadInsideTheGateCannotPauseIt() {
        Dma dma = Dma.forCpu(as);
        DmaMapping m = new DmaMapping();
        dma.map(0, 8, true, m);
        try {
            assertThrows(IllegalStateException.class, gate::pause);
            assertThrows(IllegalStateException.class, gate::synchronize);
        } finally {
            dma.unmap(m, 0);
        }
        gate.pause();
        assertThrows(IllegalStateException.class, gate::pause, "already paused");
        gate.resume();
    }
}
