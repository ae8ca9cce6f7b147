package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import net.openhft.affinity.Affinity;
import net.openhft.affinity.AffinityLock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class ThreadPoolTest {

    /** Runs {@code body} in the IOThread (holding its context) and returns its result. */
    static <T> T inLoop(IOThread io, Supplier<T> body) throws InterruptedException {
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        io.context().schedule(() -> {
            try {
                result.set(body.get());
            } catch (Throwable t) {
                failure.set(t);
            }
            done.countDown();
        });
        done.await();
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        return result.get();
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void workRunsOnWorkersAndEachCompletionRunsOnceInTheSubmittingContext() throws Exception {
        final int requests = 20_000;
        Set<String> workThreads = ConcurrentHashMap.newKeySet();
        Set<String> completionThreads = ConcurrentHashMap.newKeySet();
        int[] completions = new int[requests];
        AtomicInteger completed = new AtomicInteger();
        CountDownLatch all = new CountDownLatch(1);
        try (IOThread io = IOThread.start("pool-owner", IOThread.UNPINNED)) {
            inLoop(io, () -> {
                ThreadPool pool = io.context().threadPool();
                for (int i = 0; i < requests; i++) {
                    final int id = i;
                    pool.submit(() -> {
                        workThreads.add(Thread.currentThread().getName());
                        return id;
                    }, ret -> {
                        completionThreads.add(Thread.currentThread().getName());
                        completions[ret]++;
                        if (completed.incrementAndGet() == requests) {
                            all.countDown();
                        }
                    });
                }
                return null;
            });
            all.await();
            assertEquals(Set.of("pool-owner"), completionThreads);
            assertFalse(workThreads.contains("pool-owner"));
            assertTrue(workThreads.stream().allMatch(n -> n.startsWith("pool-owner-worker-")), workThreads.toString());
            for (int i = 0; i < requests; i++) {
                assertEquals(1, completions[i], "request " + i);
            }
            assertEquals(0, (int) inLoop(io, () -> io.context().threadPool().inFlight()));
            assertEquals(0, io.failureCount());
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void queuedWorkCanBeCancelledAndCompletesWithECanceled() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        List<Integer> results = new ArrayList<>();
        CountDownLatch bothDone = new CountDownLatch(2);
        try (IOThread io = IOThread.start("canceller", IOThread.UNPINNED)) {
            ThreadPool pool = inLoop(io, () -> new ThreadPool(io.context(), 0, 1, TimeUnit.SECONDS.toNanos(10)));
            boolean[] cancelled = new boolean[2];
            inLoop(io, () -> {
                pool.submit(() -> {
                    try {
                        release.await(); // occupies the only worker
                    } catch (InterruptedException e) {
                        return -4;
                    }
                    return 7;
                }, ret -> {
                    results.add(ret);
                    bothDone.countDown();
                });
                ThreadPool.Request queued = pool.submit(() -> 8, ret -> {
                    results.add(ret);
                    bothDone.countDown();
                });
                cancelled[0] = pool.cancel(queued);
                cancelled[1] = pool.cancel(queued); // already cancelled
                return null;
            });
            release.countDown();
            bothDone.await();
            assertTrue(cancelled[0]);
            assertFalse(cancelled[1]);
            assertEquals(List.of(ThreadPool.ECANCELED, 7), results, "the cancelled one completes first, from its BH");
            inLoop(io, () -> {
                pool.close();
                return null;
            });
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void closeJoinsEveryWorkerAndRefusesWhileRequestsAreInFlight() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch completed = new CountDownLatch(8);
        try (IOThread io = IOThread.start("closer", IOThread.UNPINNED)) {
            ThreadPool pool = inLoop(io, () -> new ThreadPool(io.context(), 2, 8, TimeUnit.SECONDS.toNanos(10)));
            inLoop(io, () -> {
                for (int i = 0; i < 8; i++) {
                    pool.submit(() -> {
                        try {
                            release.await();
                        } catch (InterruptedException e) {
                            return -4;
                        }
                        return 0;
                    }, ret -> completed.countDown());
                }
                IllegalStateException e = assertThrows(IllegalStateException.class, pool::close);
                assertTrue(e.getMessage().contains("8 request(s) in flight"), e.getMessage());
                return null;
            });
            release.countDown();
            completed.await();
            assertTrue(pool.workers() >= 2);
            inLoop(io, () -> {
                pool.close();
                return null;
            });
            assertEquals(0, pool.workers());
            assertTrue(Thread.getAllStackTraces().keySet().stream()
                    .noneMatch(t -> t.getName().startsWith("closer-worker-")), "no worker thread outlives close");
            assertThrows(AssertionError.class, () -> inLoop(io, () -> {
                pool.submit(() -> 0, ret -> {});
                return null;
            }));
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void idleWorkersAboveTheMinimumExit() throws Exception {
        try (IOThread io = IOThread.start("shrinker", IOThread.UNPINNED)) {
            ThreadPool pool = inLoop(io, () -> new ThreadPool(io.context(), 1, 4, TimeUnit.MILLISECONDS.toNanos(20)));
            CountDownLatch started = new CountDownLatch(4);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch completed = new CountDownLatch(4);
            inLoop(io, () -> {
                for (int i = 0; i < 4; i++) {
                    pool.submit(() -> {
                        started.countDown();
                        try {
                            release.await();
                        } catch (InterruptedException e) {
                            return -4;
                        }
                        return 0;
                    }, ret -> completed.countDown());
                }
                return null;
            });
            started.await();
            assertEquals(4, pool.workers());
            release.countDown();
            completed.await();
            while (pool.workers() > 1) {
                Thread.sleep(5);
            }
            assertEquals(1, pool.workers(), "minWorkers stay warm");
            inLoop(io, () -> {
                pool.close();
                return null;
            });
        }
    }

    /**
     * Submits the requests to a one-worker pool while holding its context, then a sentinel, and
     * waits until the worker has run the sentinel and gone idle: by then every completion is
     * queued, and the completion bottom half, which cannot run while the context is held, will
     * find them all in one run.
     */
    private static void submitBatchBehindSentinel(IOThread io, ThreadPool pool, List<java.util.function.IntConsumer> completions)
            throws InterruptedException {
        CountDownLatch sentinelRan = new CountDownLatch(1);
        io.context().acquire();
        try {
            for (java.util.function.IntConsumer c : completions) {
                pool.submit(() -> 0, c);
            }
            pool.submit(() -> {
                sentinelRan.countDown();
                return 0;
            }, ret -> {});
            sentinelRan.await();
            while (pool.idleWorkers() == 0) {
                Thread.onSpinWait();
            }
        } finally {
            io.context().release();
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void completionsOfOneBatchShareADeferCallRegion() throws Exception {
        final int requests = 64;
        AtomicInteger interrupts = new AtomicInteger();
        AtomicInteger outsideRegion = new AtomicInteger();
        CountDownLatch irqRaised = new CountDownLatch(1);
        Runnable irq = () -> { // one instance: that is what coalesces
            interrupts.incrementAndGet();
            irqRaised.countDown();
        };
        CountDownLatch completed = new CountDownLatch(requests);
        try (IOThread io = IOThread.start("batcher", IOThread.UNPINNED)) {
            ThreadPool pool = inLoop(io, () -> new ThreadPool(io.context(), 1, 1, TimeUnit.SECONDS.toNanos(10)));
            List<java.util.function.IntConsumer> completions = new ArrayList<>();
            for (int i = 0; i < requests; i++) {
                completions.add(ret -> {
                    if (!DeferCall.inRegion()) {
                        outsideRegion.incrementAndGet();
                    }
                    DeferCall.defer(irq);
                    completed.countDown();
                });
            }
            submitBatchBehindSentinel(io, pool, completions);
            completed.await();
            irqRaised.await();
            inLoop(io, () -> {
                AioWait.waitWhile(io.context(), () -> pool.inFlight() > 0);
                pool.close();
                return null;
            });
            assertEquals(0, outsideRegion.get());
            assertEquals(1, interrupts.get(), "one deferred interrupt for the whole batch");
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aCompletionMayWaitInANestedPollForAnotherDoneRequest() throws Exception {
        CountDownLatch finished = new CountDownLatch(1);
        boolean[] secondDone = new boolean[1];
        try (IOThread io = IOThread.start("nester", IOThread.UNPINNED)) {
            ThreadPool pool = inLoop(io, () -> new ThreadPool(io.context(), 1, 1, TimeUnit.SECONDS.toNanos(10)));
            // Both completions are queued before the bottom half runs; the first waits for the
            // second in a nested poll, which must run the completion bottom half again.
            submitBatchBehindSentinel(io, pool, List.of(ret -> {
                AioWait.waitWhile(io.context(), () -> !secondDone[0]);
                finished.countDown();
            }, ret -> secondDone[0] = true));
            finished.await();
            inLoop(io, () -> {
                AioWait.waitWhile(io.context(), () -> pool.inFlight() > 0);
                pool.close();
                return null;
            });
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void workersDoNotInheritThePinnedIOThreadsCpu() throws Exception {
        try (IOThread io = IOThread.start("pinned-owner", IOThread.ANY_CPU)) {
            AtomicReference<String> workerMask = new AtomicReference<>();
            CountDownLatch done = new CountDownLatch(1);
            inLoop(io, () -> {
                io.context().threadPool().submit(() -> {
                    workerMask.set(Affinity.getAffinity().toString());
                    return 0;
                }, ret -> done.countDown());
                return null;
            });
            done.await();
            assertEquals(AffinityLock.BASE_AFFINITY.toString(), workerMask.get());
            if (io.info().bound()) {
                assertNotEquals("{" + io.info().cpuBound() + "}", workerMask.get());
            }
        }
    }

    @Test
    void workThatThrowsCompletesWithEioAndKeepsTheCause() throws Exception {
        try (IOThread io = IOThread.start("thrower", IOThread.UNPINNED)) {
            CountDownLatch done = new CountDownLatch(1);
            int[] status = new int[1];
            ThreadPool.Request[] req = new ThreadPool.Request[1];
            inLoop(io, () -> {
                req[0] = io.context().threadPool().submit(() -> {
                    throw new IllegalStateException("disk on fire");
                }, ret -> {
                    status[0] = ret;
                    done.countDown();
                });
                return null;
            });
            done.await();
            assertEquals(ThreadPool.EIO, status[0]);
            assertEquals("disk on fire", req[0].failure().getMessage());
        }
    }
}
