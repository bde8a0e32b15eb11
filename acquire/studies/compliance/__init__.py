"""Virtual compliance bench: the standards' front-end bench tests run on a modelled front end.

IEC 60601-2-25 / 60601-2-27 and ANSI/AAMI EC11 / EC13 prescribe bench tests
for electrocardiograph front ends. :func:`run_compliance` builds each test's
fixture around the configured device (amplifier, post-amplifier stages, ADC
and the configured digital stages: the standards test the whole
electrocardiograph, so the digital filters are part of the device), applies
the test signal, measures the output referred to the input (divided by
``Frontend.nominal_gain_v_per_v``) and compares it with the limits of one
standard profile. The limits live in one TOML file per profile in
``acquire/studies/compliance/standards/`` (:func:`load_standard`); a user may pass the path of
an edited copy.

Tests (set-ups and sources in the profile files):

1. ``cmr``: every electrode tied to a node at ``cm_v_rms`` (10 V rms) of line
   frequency, ``network`` (51 kOhm || 47 nF) in series with each lead's
   negative and then positive input, with 0 and +-300 mV dc; output p-v
   over ``window_s``.
2. ``noise``: inputs tied through the network, ten 10 s windows, at least
   nine within the p-v limit.
3. ``input_impedance``: 620 kOhm || 4.7 nF in series with an electrode,
   amplitude drop at each frequency, with and without +-300 mV.
4. ``frequency_response``: a multisine; response at each point relative to
   ``reference_hz``.
5. ``impulse``: 3 mV x 100 ms pulse; displacement and slope after it.
6. ``gain``: 1 mV sine at 10 Hz; gain error.
7. ``offset``: the gain test with +-300 mV dc; amplitude change and
   saturation.

Method, common to every test:

* The node voltage of the CMR fixture is the trimmed ``cm_v_rms`` (body
  ``mode="direct"``); the loading of the node by the device is neglected
  and the 10 V is taken to sit at the amplifier inputs (the stricter,
  non-isolated reading). Leads are independent in the model, so one lead
  stands for every lead.
* Every run is paired with a run of the same fixture without the stimulus
  (no common mode, no test signal, or no noise) and the two outputs are
  subtracted. In the linear model this removes the settling of the dc
  terms (electrode offsets, bias currents, V_os) through the high-pass
  stages, which a real device finishes before it is measured, and leaves
  exactly the response to the stimulus. Saturation is checked on the run
  with the stimulus: any clipped sample (amplifier swing, second stage,
  ADC range) fails the condition. Excursions outside the amplifier's input
  common-mode range are reported in the note but do not fail: the model
  only counts them, and in an isolated device the 10 V sits across the
  isolation barrier rather than at the inputs.
* Except in the noise test, the device's noise sources (amplifier voltage
  and current noise, ADC noise) are off, so each test measures its own
  effect; noise is measured by the noise test.
* Measurements start after the device's settling time, the longest
  1 %-settling time of its stages (:func:`settling_time_s`).
* The fixture's resistors' thermal noise (kT/C of each 47 nF network,
  about 0.3 uV rms) is not modelled.
"""
