package org.mqblock.core.loop;

/*
 * The padding class chain under AioContext (JCTools' way to place fields): HotSpot lays out a
 * superclass's fields before its subclass's, so the fields that other threads read on every
 * schedule and notify sit between two 128-byte pads, away from the object header and from the
 * fields the home thread writes on every poll (AioContext's own). A test checks the offsets.
 */

abstract class AioContextPad0 {
    @SuppressWarnings("unused")
    private long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;
}

/** What producers read on every schedule or notify; written rarely, or by the notify protocol itself. */
abstract class AioContextSharedFields extends AioContextPad0 {
    static final int OPEN = 0;
    static final int CLOSING = 1;
    static final int CLOSED = 2;

    final String name;
    final NanoClock clock;
    final BottomHalves bottomHalves;
    /** Made once by the constructor; producers call its wakeup(). */
    final FdMonitor monitor;

    /** Any thread sets it (getAndSet); the home thread clears it (volatile store) as it accepts. */
    volatile boolean notified;

    /** Home thread writes (volatile store, once per sleep); producers read it (volatile) to decide whether to wake. */
    volatile int notifyMe;

    /** The closing thread writes it (volatile store); schedulers read it (volatile) after they enqueue. */
    volatile int closeState;

    /** Any thread, atomic add; read with volatile loads by the loop before each dispatch. */
    volatile int externalDisableCount;

    /** Set once by the first poller (CAS), read by any thread (volatile). */
    volatile Thread home;

    AioContextSharedFields(String name, NanoClock clock, FdMonitor.Factory monitorFactory) {
        this.name = name;
        this.clock = clock;
        this.bottomHalves = new BottomHalves((AioContext) this);
        this.monitor = monitorFactory.create((AioContext) this);
        if (monitor == null) {
            throw new IllegalArgumentException("FdMonitor factory returned null for AioContext '" + name + "'");
        }
    }
}

abstract class AioContextPad1 extends AioContextSharedFields {
    @SuppressWarnings("unused")
    private long q00, q01, q02, q03, q04, q05, q06, q07, q08, q09, q10, q11, q12, q13, q14, q15;

    AioContextPad1(String name, NanoClock clock, FdMonitor.Factory monitorFactory) {
        super(name, clock, monitorFactory);
    }
}
