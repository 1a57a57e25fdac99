import {
  airOrOxygenScore,
  consciousnessScore,
  news2,
  pulseScore,
  respirationRateScore,
  spo2Scale1Score,
  spo2Scale2Score,
  systolicBpScore,
  temperatureScore,
} from './news2';

// Every band of the NEWS2 chart (Royal College of Physicians, 2017), at both of its edges.
describe('NEWS2, parameter by parameter, from the published chart', () => {
  it.each([
    [5, 3],
    [8, 3],
    [9, 1],
    [11, 1],
    [12, 0],
    [20, 0],
    [21, 2],
    [24, 2],
    [25, 3],
    [40, 3],
  ])('respiration rate %d/min scores %d', (rate, score) => {
    expect(respirationRateScore(rate)).toBe(score);
  });

  it.each([
    [85, 3],
    [91, 3],
    [92, 2],
    [93, 2],
    [94, 1],
    [95, 1],
    [96, 0],
    [100, 0],
  ])('SpO2 scale 1: %d%% scores %d', (spo2, score) => {
    expect(spo2Scale1Score(spo2)).toBe(score);
  });

  it.each([
    // ≤83, 84–85, 86–87, then 88–92 scores 0 on air or oxygen
    [80, false, 3],
    [83, true, 3],
    [84, false, 2],
    [85, true, 2],
    [86, false, 1],
    [87, true, 1],
    [88, false, 0],
    [88, true, 0],
    [92, false, 0],
    [92, true, 0],
    // 93 or more scores 0 on room air…
    [93, false, 0],
    [97, false, 0],
    [100, false, 0],
    // …but on oxygen, over-oxygenation scores: 93–94 → 1, 95–96 → 2, ≥97 → 3
    [93, true, 1],
    [94, true, 1],
    [95, true, 2],
    [96, true, 2],
    [97, true, 3],
    [100, true, 3],
  ])('SpO2 scale 2: %d%%, on oxygen %s, scores %d', (spo2, onOxygen, score) => {
    expect(spo2Scale2Score(spo2, onOxygen)).toBe(score);
  });

  it('air scores 0, supplemental oxygen 2', () => {
    expect(airOrOxygenScore(false)).toBe(0);
    expect(airOrOxygenScore(true)).toBe(2);
  });

  it.each([
    [70, 3],
    [90, 3],
    [91, 2],
    [100, 2],
    [101, 1],
    [110, 1],
    [111, 0],
    [219, 0],
    [220, 3],
    [250, 3],
  ])('systolic blood pressure %d mmHg scores %d', (bp, score) => {
    expect(systolicBpScore(bp)).toBe(score);
  });

  it.each([
    [30, 3],
    [40, 3],
    [41, 1],
    [50, 1],
    [51, 0],
    [90, 0],
    [91, 1],
    [110, 1],
    [111, 2],
    [130, 2],
    [131, 3],
    [180, 3],
  ])('pulse %d/min scores %d', (pulse, score) => {
    expect(pulseScore(pulse)).toBe(score);
  });

  it('consciousness: alert scores 0; new confusion, voice, pain and unresponsive each score 3', () => {
    expect(consciousnessScore('A')).toBe(0);
    for (const level of ['C', 'V', 'P', 'U'] as const) expect(consciousnessScore(level)).toBe(3);
  });

  it.each([
    [34.0, 3],
    [35.0, 3],
    [35.1, 1],
    [36.0, 1],
    [36.1, 0],
    [38.0, 0],
    [38.1, 1],
    [39.0, 1],
    [39.1, 2],
    [41.0, 2],
  ])('temperature %d °C scores %d', (celsius, score) => {
    expect(temperatureScore(celsius)).toBe(score);
  });

  it('rounds a value to the chart precision before banding it', () => {
    expect(respirationRateScore(8.4)).toBe(3);
    expect(respirationRateScore(8.6)).toBe(1);
    expect(temperatureScore(35.04)).toBe(3);
    expect(temperatureScore(35.06)).toBe(1);
    expect(spo2Scale2Score(92.4, true)).toBe(0);
    expect(spo2Scale2Score(92.6, true)).toBe(1);
  });
});

describe('NEWS2 aggregate and clinical response', () => {
  const normal = {
    respirationRate: 16,
    spo2: 97,
    onOxygen: false,
    systolicBp: 125,
    pulse: 72,
    consciousness: 'A' as const,
    temperature: 36.8,
  };

  it('a well patient scores 0, complete, low risk, no escalation', () => {
    expect(news2(normal)).toEqual({
      total: 0,
      parameters: {
        respirationRate: 0,
        spo2: 0,
        onOxygen: 0,
        systolicBp: 0,
        pulse: 0,
        consciousness: 0,
        temperature: 0,
      },
      complete: true,
      risk: 'low',
      escalate: false,
      emergency: false,
    });
  });

  it('new confusion alone (a single red score) escalates at low-medium risk', () => {
    const score = news2({ ...normal, consciousness: 'C' });
    expect(score).toMatchObject({ total: 3, risk: 'low-medium', escalate: true, emergency: false });
  });

  it('an aggregate of 4 without a single 3 stays low and does not escalate', () => {
    // pulse 105 → 1, respiration 22 → 2, temperature 38.5 → 1
    const score = news2({ ...normal, pulse: 105, respirationRate: 22, temperature: 38.5 });
    expect(score).toMatchObject({ total: 4, risk: 'low', escalate: false });
  });

  it('an aggregate of 5 escalates at medium risk; 7 is an emergency', () => {
    // + SpO2 94 on scale 1 → 1
    expect(news2({ ...normal, pulse: 105, respirationRate: 22, temperature: 38.5, spo2: 94 })).toMatchObject({
      total: 5,
      risk: 'medium',
      escalate: true,
      emergency: false,
    });
    // + oxygen → 2
    expect(
      news2({ ...normal, pulse: 105, respirationRate: 22, temperature: 38.5, spo2: 94, onOxygen: true }),
    ).toMatchObject({ total: 7, risk: 'high', escalate: true, emergency: true });
  });

  it('scores SpO2 on the patient’s own scale: 97% on oxygen is 0 on scale 1 but 3 on scale 2', () => {
    const onOxygen = { ...normal, spo2: 97, onOxygen: true };
    expect(news2(onOxygen, 1).parameters.spo2).toBe(0);
    expect(news2(onOxygen, 2).parameters.spo2).toBe(3);
    expect(news2(onOxygen, 2)).toMatchObject({ total: 5, escalate: true });
    // 90% on air: 3 on scale 1, 0 on scale 2 (within its 88–92 target)
    expect(news2({ ...normal, spo2: 90 }, 1).parameters.spo2).toBe(3);
    expect(news2({ ...normal, spo2: 90 }, 2).parameters.spo2).toBe(0);
  });

  it('scores what has been measured and says when the set is incomplete', () => {
    const partial = news2({ pulse: 135, temperature: 36.5 });
    expect(partial).toMatchObject({ total: 3, complete: false, escalate: true });
    expect(Object.keys(partial.parameters).sort()).toEqual(['pulse', 'temperature']);
  });
});
